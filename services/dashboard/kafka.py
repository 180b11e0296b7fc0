"""The dashboard's Kafka edges (aiokafka, on the service's event loop).

`ReadModelFeed` rebuilds the read model at start by reading every consumed topic from offset 0
(`read_committed`, no consumer group, `assign()`), then keeps tailing. `caught_up` is set once it has
reached the end offsets it saw at start; `/readyz` answers 503 until then. After a connection failure
it resumes from where it was, so nothing is applied twice. Every `PROBE_SECONDS` it asks the broker
for the end offsets and reports each answer to `on_contact` (see `freshness`), and it calls `on_tick`
after every fetch and every failed connection, so that staleness is noticed while the broker is down.

`KafkaAccessLog` writes access-log entries with `acks=all` on an idempotent producer; a read that
must be logged is refused (503) when the entry cannot be written in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from services.contracts import ACCESS_LOG_TOPIC
from services.contracts.access import AccessEntry
from services.dashboard.metrics import DashboardMetrics
from services.dashboard.ports import AccessLogUnavailable
from services.dashboard.readmodel.records import Changes, RecordApplier, current_only
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity

__all__ = ["KafkaAccessLog", "ReadModelFeed"]

log = logging.getLogger("gvi.dashboard.kafka")

PROBE_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 5.0


class ReadModelFeed:
    def __init__(self, bootstrap: str, topics: Sequence[str], applier: RecordApplier, *,
                 on_changes: Callable[[Changes, float], None], metrics: DashboardMetrics,
                 on_contact: Callable[[], None] = lambda: None, on_tick: Callable[[], None] = lambda: None,
                 client_id: str = "gvi-dashboard", security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._topics = tuple(topics)
        self._applier = applier
        self._on_changes = on_changes
        self._on_contact = on_contact
        self._on_tick = on_tick
        self._metrics = metrics
        self._client_id = client_id
        self._positions: dict[TopicPartition, int] = {}
        self.caught_up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dashboard-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._consume()
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("read-model feed interrupted (%s); resuming", type(exc).__name__)
                self._on_tick()
                await asyncio.sleep(1)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap.split(","),
                                    client_id=f"{self._client_id}-feed", group_id=None,
                                    enable_auto_commit=False, isolation_level="read_committed",
                                    auto_offset_reset="earliest", fetch_max_wait_ms=100,
                                    **self._security.aiokafka())
        await asyncio.wait_for(consumer.start(), PROBE_TIMEOUT_SECONDS * 2)
        try:
            # A consumer without subscriptions has no metadata for the topics yet; aiokafka has no
            # public call that refreshes it.
            await consumer._client.force_metadata_update()
            assigned = []
            for topic in self._topics:
                partitions = consumer.partitions_for_topic(topic)
                if not partitions:
                    raise KafkaError(f"topic {topic} has no partitions yet")
                assigned += [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            fresh = [tp for tp in assigned if tp not in self._positions]
            if fresh:
                await consumer.seek_to_beginning(*fresh)
            for tp in assigned:
                if tp in self._positions:
                    consumer.seek(tp, self._positions[tp])
            targets = await consumer.end_offsets(assigned)
            self._on_contact()
            probed = time.monotonic()
            while True:
                # Larger runs while loading: more superseded group-state records to skip.
                batches = await consumer.getmany(
                    timeout_ms=200, max_records=5000 if self.caught_up.is_set() else 20_000)
                self._apply(batches)
                if time.monotonic() - probed >= PROBE_SECONDS:
                    probed = time.monotonic()
                    await self._probe(consumer, assigned)
                self._on_tick()
                if not self.caught_up.is_set():
                    positions = [await consumer.position(tp) for tp in assigned]
                    if all(pos >= targets[tp] for tp, pos in zip(assigned, positions, strict=True)):
                        log.info("read model loaded: %d groups", len(self._applier.model.groups()))
                        # What was loaded stays: leave it out of the cyclic collector's full runs,
                        # each of which would otherwise stop every request for a long moment.
                        gc.collect()
                        gc.freeze()
                        self.caught_up.set()
        finally:
            await consumer.stop()

    async def _probe(self, consumer: AIOKafkaConsumer, assigned: list[TopicPartition]) -> None:
        """Ask the broker for the end offsets: an answer is a contact (a fetch that returns nothing
        says nothing: aiokafka returns nothing while the broker is gone, too)."""
        try:
            await asyncio.wait_for(consumer.end_offsets(assigned), PROBE_TIMEOUT_SECONDS)
        except (KafkaError, OSError, TimeoutError) as exc:
            log.debug("the broker did not answer the feed's probe (%s)", type(exc).__name__)
        else:
            self._on_contact()

    def _apply(self, batches: dict[TopicPartition, list[object]]) -> None:
        changes = Changes()
        oldest: float | None = None
        for tp, records in batches.items():
            skipped = changes.skipped
            for record in current_only(tp.topic, records, _key):
                self._applier.apply(tp.topic, record.key, record.value, record.timestamp,  # type: ignore[attr-defined]
                                    partition=tp.partition, offset=record.offset,  # type: ignore[attr-defined]
                                    changes=changes)
            if records:
                stamp = min(r.timestamp for r in records) / 1000  # type: ignore[attr-defined]
                oldest = stamp if oldest is None else min(oldest, stamp)
                self._positions[tp] = records[-1].offset + 1  # type: ignore[attr-defined]
                self._metrics.records.labels(tp.topic).inc(len(records))
            if changes.skipped > skipped:
                self._metrics.skipped.labels(tp.topic).inc(changes.skipped - skipped)
        if changes and self.caught_up.is_set():
            self._on_changes(changes, oldest if oldest is not None else time.time())


def _key(record: object) -> bytes | None:
    return record.key  # type: ignore[attr-defined, no-any-return]


class KafkaAccessLog:
    def __init__(self, bootstrap: str, *, timeout_seconds: float, client_id: str = "gvi-dashboard",
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._timeout = timeout_seconds
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap.split(","), client_id=f"{self._client_id}-access-log",
                    acks="all", enable_idempotence=True, linger_ms=0,
                    request_timeout_ms=max(1000, int(self._timeout * 1000)), **self._security.aiokafka())
                try:
                    await asyncio.wait_for(producer.start(), self._timeout)
                except BaseException:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(producer.stop(), 2)
                    raise
                self._producer = producer
            return self._producer

    async def record(self, entry: AccessEntry) -> None:
        try:
            producer = await self._started()
            await asyncio.wait_for(producer.send_and_wait(ACCESS_LOG_TOPIC, entry.to_json(),
                                                          key=entry.key()), self._timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise AccessLogUnavailable(
                "the access log (Kafka) did not acknowledge in time, so nothing was shown; retry later"
            ) from exc

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)
