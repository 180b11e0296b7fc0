"""The dashboard's Kafka edges (aiokafka, on the service's event loop).

`ReadModelFeed` rebuilds the read model at start by reading every consumed topic from offset 0
(`read_committed`, no consumer group), then keeps tailing: a `services.infra.feed.TopicFeed`.
`caught_up` is set once it has reached the end offsets it saw at start; `/readyz` answers 503 until
then. After a connection failure it resumes from where it was, so nothing is applied twice. Every
`PROBE_SECONDS` it asks the broker for the end offsets and reports each answer to `on_contact` (see
`freshness`), and it calls `on_tick` after every fetch and every failed connection, so that staleness
is noticed while the broker is down.

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

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.contracts import ACCESS_LOG_TOPIC
from services.contracts.access import AccessEntry
from services.dashboard.metrics import DashboardMetrics
from services.dashboard.ports import AccessLogUnavailable
from services.dashboard.readmodel.records import Changes, RecordApplier, current_only
from services.infra.feed import Batch, TopicFeed
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity

__all__ = ["KafkaAccessLog", "ReadModelFeed"]

log = logging.getLogger("gvi.dashboard.kafka")

PROBE_SECONDS = 2.0
LOADING_RECORDS_PER_FETCH = 20_000
"""Larger fetches while loading: more superseded group-state records to skip (`current_only`)."""
RECORDS_PER_FETCH = 5_000


class ReadModelFeed:
    """Applies every record of `topics` to the read model, from offset 0 on; once caught up, tells
    `on_changes` what each fetch changed (with the time of its oldest record)."""

    def __init__(self, bootstrap: str, topics: Sequence[str], applier: RecordApplier, *,
                 on_changes: Callable[[Changes, float], None], metrics: DashboardMetrics,
                 on_contact: Callable[[], None] = lambda: None, on_tick: Callable[[], None] = lambda: None,
                 client_id: str = "gvi-dashboard", security: KafkaSecurity = PLAINTEXT) -> None:
        self._applier = applier
        self._on_changes = on_changes
        self._metrics = metrics
        self._feed = TopicFeed(bootstrap, topics, self._apply, client_id=f"{client_id}-feed",
                               security=security, name="read-model feed", max_records=RECORDS_PER_FETCH,
                               loading_max_records=LOADING_RECORDS_PER_FETCH, on_caught_up=self._loaded,
                               on_tick=on_tick, on_contact=on_contact, probe_seconds=PROBE_SECONDS,
                               fetch_max_wait_ms=100)
        self.caught_up = self._feed.caught_up

    def start(self) -> None:
        self._feed.start()

    async def stop(self) -> None:
        await self._feed.stop()

    def _loaded(self) -> None:
        log.info("read model loaded: %d groups", len(self._applier.model.groups()))
        # What was loaded stays: leave it out of the cyclic collector's full runs, each of which
        # would otherwise stop every request for a long moment.
        gc.collect()
        gc.freeze()

    def _apply(self, batches: Batch) -> None:
        changes = Changes()
        oldest: float | None = None
        for tp, records in batches.items():
            skipped = changes.skipped
            for record in current_only(tp.topic, records, _key):
                self._applier.apply(tp.topic, record.key, record.value, record.timestamp,
                                    partition=tp.partition, offset=record.offset, changes=changes)
            if records:
                stamp = min(r.timestamp for r in records) / 1000
                oldest = stamp if oldest is None else min(oldest, stamp)
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
