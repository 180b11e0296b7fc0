"""What `gvi-privacy` reads and writes besides the key topic: the source topics and the
`data-protection` topic, read once to their end (`services.infra.feed.read_to_end`),
and the data-protection records, written one at a time by an idempotent producer (acks=all).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from services.contracts.envelope import CloudEvent, read_event
from services.contracts.protection import DataProtectionRecord, read_protection_record
from services.contracts.topics import RETRACTION_TYPE
from services.infra.feed import TopicPartition, read_to_end
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity

__all__ = ["KafkaUnavailable", "events_of", "protection_records_of", "read_events",
           "read_protection_records", "read_records", "write_record"]

log = logging.getLogger("gvi.privacy.kafka")


class KafkaUnavailable(RuntimeError):
    """Kafka could not be read or written in time."""


async def read_records(bootstrap: str, topics: Sequence[str], *, security: KafkaSecurity = PLAINTEXT,
                       timeout: float = 30.0) -> list[Any]:  # noqa: ASYNC109
    """Every committed record of `topics` up to the end each partition had when the read began,
    partition by partition in offset order. A topic that does not exist holds no records."""
    try:
        return await asyncio.wait_for(_read(bootstrap, topics, security, timeout), timeout)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise KafkaUnavailable(f"Kafka at {bootstrap} could not be read within {timeout:g}s "
                               f"({type(exc).__name__})") from exc


async def _read(bootstrap: str, topics: Sequence[str], security: KafkaSecurity,
                stall_seconds: float) -> list[Any]:
    """The records of `topics`, partition by partition in the order of `topics`. `stall_seconds` is
    the caller's timeout: the feed's own limit on a read without progress must not cut it shorter."""
    found: dict[TopicPartition, list[Any]] = {}
    async for tp, records in read_to_end(bootstrap, topics, client_id="gvi-privacy-read", security=security,
                                         missing_ok=True, stall_seconds=stall_seconds):
        found.setdefault(tp, []).extend(records)
    order = sorted(found, key=lambda tp: (topics.index(tp.topic), tp.partition))
    return [record for tp in order for record in found[tp]]


_PERSONAL_MARKS = (b'"psn-', RETRACTION_TYPE.encode())


def events_of(records: Sequence[Any], *, naming_persons: bool = False) -> list[CloudEvent]:
    """The events among `records`; what is not an event is skipped, as every reader skips it. With
    `naming_persons`, only those that may name a pseudonym, and retractions (what the retention
    deadlines need), without parsing the others: most of a long log names no one."""
    found = []
    for record in records:
        if naming_persons and not any(mark in (record.value or b"") for mark in _PERSONAL_MARKS):
            continue
        try:
            found.append(read_event(record.value))
        except (ValidationError, ValueError, TypeError):
            continue
    return found


async def read_events(bootstrap: str, topics: Sequence[str], *, naming_persons: bool = False,
                      **kw: Any) -> list[CloudEvent]:
    return events_of(await read_records(bootstrap, topics, **kw), naming_persons=naming_persons)


def protection_records_of(records: Sequence[Any]) -> list[DataProtectionRecord]:
    found: list[DataProtectionRecord] = []
    for record in records:
        try:
            found.append(read_protection_record(record.value))
        except (ValidationError, ValueError, TypeError):
            log.warning("a record of the data-protection topic is not a data-protection record; skipped")
    return found


async def read_protection_records(bootstrap: str, topic: str, **kw: Any) -> list[DataProtectionRecord]:
    """The topic's records in the order written (for one case: one partition, keyed by case)."""
    found = protection_records_of(await read_records(bootstrap, [topic], **kw))
    return sorted(found, key=lambda r: r.time)


async def write_record(bootstrap: str, topic: str, record: DataProtectionRecord, *,
                       security: KafkaSecurity = PLAINTEXT,
                       timeout: float = 30.0) -> None:  # noqa: ASYNC109
    """Write one record and wait for every in-sync replica to have it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap.split(","), client_id="gvi-privacy",
                                acks="all", enable_idempotence=True, **security.aiokafka())
    try:
        await asyncio.wait_for(producer.start(), timeout)
        await asyncio.wait_for(producer.send_and_wait(topic, record.to_json(), key=record.key()), timeout)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise KafkaUnavailable(f"Kafka at {bootstrap} did not take the {record.action} record "
                               f"({type(exc).__name__})") from exc
    finally:
        try:
            await asyncio.wait_for(producer.stop(), 5)
        except (KafkaError, OSError, TimeoutError):
            log.debug("error while stopping the producer", exc_info=True)
