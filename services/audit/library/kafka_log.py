"""Reading topics read-only: `assign` + `seek`, no consumer group, no commits, `read_committed`.

`LogReader` reads a set of partitions from given offsets (default: the beginning) to the end they
had when the read began, so that a run sees one consistent cut of a log that keeps growing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from services.audit.library.errors import BrokerUnreachable, NotFound
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity

__all__ = ["STALL_S", "LogReader", "Progress", "TopicPartition", "stalled"]

log = logging.getLogger("gvi.audit.kafka")

Progress = Callable[[int, int], None]
"""Called with (offsets read, offsets to read) as a read goes on."""

STALL_S = 30.0
"""Seconds without any progress after which a read gives up: the broker stopped answering."""


def stalled(bootstrap: str, remaining: Iterable[Any]) -> BrokerUnreachable:
    """The error for a read that made no progress for `STALL_S` on the `remaining` partitions."""
    names = ", ".join(sorted(f"{tp.topic}/{tp.partition}" for tp in remaining))
    return BrokerUnreachable(f"Kafka at {bootstrap} stopped answering while reading {names}")


class LogReader:
    def __init__(self, bootstrap: str, *, client_id: str = "gvi-audit", timeout_s: float = 10.0,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap
        self._timeout_ms = int(timeout_s * 1000)
        try:
            self._consumer = KafkaConsumer(
                bootstrap_servers=bootstrap.split(","), client_id=client_id, group_id=None,
                enable_auto_commit=False, isolation_level="read_committed", auto_offset_reset="earliest",
                bootstrap_timeout_ms=self._timeout_ms, request_timeout_ms=max(self._timeout_ms, 5000) + 1000,
                fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024,
                max_poll_records=20_000, metrics_enabled=False, check_crcs=False, **security.kafka_python())
        except KafkaError as exc:
            raise BrokerUnreachable(f"no Kafka broker reachable at {bootstrap} "
                                    f"({type(exc).__name__})") from exc

    @property
    def bootstrap(self) -> str:
        return self._bootstrap

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._consumer.close(autocommit=False)
        except Exception:  # closing a client whose broker is gone must not hide the first error
            log.debug("error while closing the consumer", exc_info=True)

    def _unreachable(self, exc: Exception) -> BrokerUnreachable:
        return BrokerUnreachable(f"Kafka at {self._bootstrap} did not answer ({type(exc).__name__})")

    def partitions(self, topic: str, *, missing_ok: bool = False) -> list[TopicPartition]:
        try:
            found = self._consumer.partitions_for_topic(topic)
        except KafkaError as exc:
            raise self._unreachable(exc) from exc
        if not found:
            if missing_ok:
                return []
            raise NotFound(f"topic {topic!r} does not exist on the broker at {self._bootstrap}")
        return [TopicPartition(topic, p) for p in sorted(found)]

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        if not partitions:
            return {}
        try:
            return dict(self._consumer.end_offsets(list(partitions), timeout_ms=self._timeout_ms))
        except KafkaError as exc:
            raise self._unreachable(exc) from exc

    def read(self, partitions: Sequence[TopicPartition], start: Mapping[TopicPartition, int] | None = None,
             *, progress: Progress | None = None,
             ends: Mapping[TopicPartition, int] | None = None) -> Iterator[list[Any]]:
        """Batches of records (kafka-python `ConsumerRecord`s, one partition per batch, in offset order)
        from `start` (default: the beginning) up to `ends` (default: each partition's end at the
        time of the call)."""
        if not partitions:
            return
        ends = dict(ends) if ends is not None else self.end_offsets(partitions)
        consumer = self._consumer
        consumer.assign(list(partitions))
        begin: dict[TopicPartition, int] = {}
        for tp in partitions:
            offset = (start or {}).get(tp)
            if offset is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
        try:
            for tp in partitions:
                begin[tp] = consumer.position(tp, timeout_ms=self._timeout_ms)
        except KafkaError as exc:
            raise self._unreachable(exc) from exc
        remaining = {tp for tp in partitions if begin[tp] is not None and begin[tp] < ends[tp]}
        total = sum(max(0, ends[tp] - begin[tp]) for tp in partitions)
        done: dict[TopicPartition, int] = dict.fromkeys(partitions, 0)
        consumer.pause(*[tp for tp in partitions if tp not in remaining])
        last_progress = time.monotonic()
        while remaining:
            try:
                fetched = consumer.poll(timeout_ms=500)
            except KafkaError as exc:
                raise BrokerUnreachable(f"Kafka at {self._bootstrap} failed while reading "
                                        f"({type(exc).__name__})") from exc
            for tp, records in fetched.items():
                end = ends[tp]
                if records and records[-1].offset >= end:
                    records = [r for r in records if r.offset < end]
                if records:
                    done[tp] = records[-1].offset + 1 - begin[tp]
                    yield records
            moved = bool(fetched)
            for tp in list(remaining):
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
                    done[tp] = ends[tp] - begin[tp]
                    consumer.pause(tp)
                    moved = True
            now = time.monotonic()
            if moved:
                last_progress = now
                if progress is not None:
                    progress(sum(done.values()), total)
            elif now - last_progress > STALL_S:
                raise stalled(self._bootstrap, remaining)
        consumer.unsubscribe()

    def read_topics(self, topics: Sequence[str], *, progress: Progress | None = None,
                    missing_ok: bool = False) -> Iterator[list[Any]]:
        partitions = [tp for topic in topics for tp in self.partitions(topic, missing_ok=missing_ok)]
        yield from self.read(partitions, progress=progress)
