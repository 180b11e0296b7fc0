"""One-shot reads: partitions from their beginning (or given offsets) up to the end each had when
the read began, one consistent cut of a log that keeps growing (`read_to_end`), and the pieces every
reader shares: the consumer, a topic's partitions, end offsets, the errors."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from services.infra.kafka_security import PLAINTEXT, KafkaSecurity

__all__ = ["FEED_ERRORS", "STALL_SECONDS", "MissingTopic", "ReadStalled", "TopicPartition", "end_offsets",
           "partitions_of", "read_to_end", "reading_consumer"]

FEED_ERRORS = (KafkaError, OSError, TimeoutError)
"""What a broken or missing broker raises while reading."""

STALL_SECONDS = 30.0
"""Seconds without any progress after which `read_to_end` gives up: the broker stopped answering."""


class MissingTopic(KafkaError):  # type: ignore[misc]  # aiokafka's errors are untyped
    """A topic to read does not exist (or has no partitions yet): unlike a broker that does not
    answer, a reason to tell the operator to create it."""


class ReadStalled(KafkaError):  # type: ignore[misc]  # aiokafka's errors are untyped
    """A read made no progress for `STALL_SECONDS`: the broker stopped answering."""


def reading_consumer(bootstrap: str, *, client_id: str, security: KafkaSecurity = PLAINTEXT,
                     **options: Any) -> AIOKafkaConsumer:
    """A consumer for `assign` and seek: no group, no commits, `read_committed` unless `options` say
    otherwise, from the earliest offset."""
    settings: dict[str, Any] = {"group_id": None, "enable_auto_commit": False,
                                "isolation_level": "read_committed", "auto_offset_reset": "earliest"}
    settings.update(options)
    return AIOKafkaConsumer(bootstrap_servers=bootstrap.split(","), client_id=client_id,
                            **settings, **security.aiokafka())


async def partitions_of(consumer: AIOKafkaConsumer, topics: Iterable[str], *,
                        missing_ok: bool = False) -> list[TopicPartition]:
    """Every partition of `topics` as the broker lists them now, in order. A missing topic raises
    `MissingTopic` (a `KafkaError`), or has no partitions with `missing_ok`; a broker that does not
    answer raises `KafkaError`."""
    # Asked afresh, not from the consumer's own metadata: once a consumer is assigned partitions,
    # aiokafka keeps that to the assigned topics. aiokafka has no public call for this.
    cluster = await consumer._client.fetch_all_metadata()
    found = []
    for topic in topics:
        partitions = cluster.partitions_for_topic(topic)
        if not partitions and not missing_ok:
            raise MissingTopic(f"topic {topic} does not exist (or has no partitions yet)")
        found += [TopicPartition(topic, p) for p in sorted(partitions or ())]
    return found


async def end_offsets(bootstrap: str, topics: Sequence[str], *, client_id: str,
                      security: KafkaSecurity = PLAINTEXT, committed_only: bool = False,
                      timeout: float = 10.0) -> dict[TopicPartition, int]:  # noqa: ASYNC109
    """Each partition's end offset now: its high watermark, past any open transaction (or with
    `committed_only` its last stable offset, where an open transaction begins)."""
    isolation = "read_committed" if committed_only else "read_uncommitted"
    consumer = reading_consumer(bootstrap, client_id=client_id, security=security,
                                isolation_level=isolation, request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(consumer.start(), timeout)
    try:
        partitions = await partitions_of(consumer, topics)
        ends: dict[TopicPartition, int] = await asyncio.wait_for(consumer.end_offsets(partitions), timeout)
        return ends
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(consumer.stop(), 2)


async def read_to_end(bootstrap: str, sources: Sequence[str | TopicPartition], *,
                      client_id: str, security: KafkaSecurity = PLAINTEXT,
                      start: Mapping[TopicPartition, int] | None = None,
                      ends: Mapping[TopicPartition, int] | None = None,
                      started: Callable[[int], None] | None = None,
                      missing_ok: bool = False, stall_seconds: float = STALL_SECONDS,
                      progress: Callable[[int, int], None] | None = None,
                      **options: Any) -> AsyncIterator[tuple[TopicPartition, list[Any]]]:
    """Every committed record of `sources` (partitions, and every partition of the topics named) from
    `start` (default: the beginning) up to `ends` (default: each partition's end when the read
    began), as (partition, records) in offset order. `started` is told how many offsets the read
    spans, and `progress` (offsets read, offsets to read) each time the read moves: offsets, not
    records, since control records and aborted transactions take offsets too. A missing topic raises
    `KafkaError` (none with `missing_ok`); a read that makes no progress for `stall_seconds` raises
    `ReadStalled`. `options` go to the consumer."""
    consumer = reading_consumer(bootstrap, client_id=client_id, security=security, **options)
    await consumer.start()
    try:
        wanted = await _partitions_to_read(consumer, sources, missing_ok=missing_ok)
        if not wanted:
            if started is not None:
                started(0)
            return
        consumer.assign(wanted)
        for tp in wanted:
            offset = (start or {}).get(tp)
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
        last = dict(ends) if ends is not None else await consumer.end_offsets(wanted)
        begin = {tp: await consumer.position(tp) for tp in wanted}
        if started is not None:
            started(sum(max(0, last[tp] - begin[tp]) for tp in wanted))
        span = _Span(begin, {tp: last[tp] for tp in wanted}, progress)
        # closed here, not by the garbage collector, when the caller stops early (`aclose`)
        async with contextlib.aclosing(_up_to(consumer, bootstrap, span, stall_seconds)) as items:
            async for item in items:
                yield item
    finally:
        await consumer.stop()


async def _partitions_to_read(consumer: AIOKafkaConsumer, sources: Sequence[str | TopicPartition], *,
                              missing_ok: bool) -> list[TopicPartition]:
    """Every partition of each topic named, and each partition given, checked to exist: a read of a
    partition the broker does not have would wait for its offsets until the request times out."""
    topics = [s for s in sources if isinstance(s, str)]
    given = [s for s in sources if not isinstance(s, str)]
    existing = await partitions_of(consumer, dict.fromkeys([*topics, *(tp.topic for tp in given)]),
                                   missing_ok=missing_ok)
    absent = [tp for tp in given if tp not in existing]
    if absent and not missing_ok:
        raise MissingTopic(f"partition {absent[0].partition} of topic {absent[0].topic} does not exist")
    named = [tp for tp in existing if tp.topic in topics]
    return list(dict.fromkeys([*(tp for tp in given if tp in existing), *named]))


class _Span:
    """Where a read began and ends in each partition, and how far it has got (for `progress`)."""

    def __init__(self, begin: dict[TopicPartition, int], ends: dict[TopicPartition, int],
                 progress: Callable[[int, int], None] | None) -> None:
        self.ends = ends
        self._begin = begin
        self._reached = dict(begin)
        self._total = sum(max(0, ends[tp] - begin[tp]) for tp in ends)
        self._progress = progress

    def reached(self, tp: TopicPartition, position: int) -> None:
        self._reached[tp] = min(position, self.ends[tp])

    def tell(self) -> None:
        if self._progress is not None:
            self._progress(sum(max(0, self._reached[tp] - self._begin[tp]) for tp in self.ends), self._total)


async def _up_to(consumer: AIOKafkaConsumer, bootstrap: str, span: _Span,
                 stall_seconds: float) -> AsyncGenerator[tuple[TopicPartition, list[Any]], None]:
    ends = span.ends
    remaining = {tp for tp in ends if await consumer.position(tp) < ends[tp]}
    consumer.pause(*(tp for tp in ends if tp not in remaining))
    last_progress = time.monotonic()
    while remaining:
        fetched = await consumer.getmany(*remaining, timeout_ms=500)
        for tp, records in fetched.items():
            records = [r for r in records if r.offset < ends[tp]]  # the log grew since the read began
            if records:
                yield tp, records
        moved = bool(fetched)
        for tp in list(remaining):
            position = await consumer.position(tp)
            span.reached(tp, position)
            if position >= ends[tp]:  # control records count: they end transactions
                remaining.discard(tp)
                consumer.pause(tp)
                moved = True
        if moved:
            last_progress = time.monotonic()
            span.tell()
        elif time.monotonic() - last_progress > stall_seconds:
            names = ", ".join(sorted(f"{tp.topic}/{tp.partition}" for tp in remaining))
            raise ReadStalled(f"Kafka at {bootstrap} stopped answering while reading {names}")


