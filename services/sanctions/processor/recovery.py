"""What the worker does when its partitions change: rebuild the ledger, join the publishers, take over.

* **Loading** (`Recovery.ensure_loaded`): after table recovery, and after any change of its source
  partitions, the worker rebuilds its ledger from the fact table, from the facts below its committed
  offsets (`ProcessorCore.restore`, in a worker thread: `restore_beside_loop`); it handles nothing
  until it holds every source partition.
* **Joining the publishers** (`Recovery.join_publishers`): once the ledger is loaded, the worker
  learns each alert's last record and takes its share of the `group-state` partitions (`ownership`).
* **Taking over** (`Recovery.take_over`): the partitions it gains (or owns at a reload) are made to
  say what its ledger says (`ProcessorCore.reconcile`), once it has caught up with the source
  topics; the outputs of that correction carry `CORRECTION_HEADERS`.

Every batch of records, and every stall check, takes the ledger's lock (`ledger_lock`) that loading
and taking over hold, so that the ledger they read is whole and the outputs reach the topics in the
order they were derived.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from faust.types import TP

from services.contracts import ALERTS_TOPIC, GROUP_STATE_TOPIC, SOURCE_TOPIC_NAMES
from services.contracts.alerts import Alert, AlertWithdrawal
from services.contracts.group_state_records import Record
from services.infra import feed
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity
from services.sanctions.processor.core import ProcessorCore, TopicPartition
from services.sanctions.processor.faust_adapter import BulkApp, FactTable, kafka_producer, keep_metadata_for
from services.sanctions.processor.health import Health
from services.sanctions.processor.heap import keep_out_of_collections
from services.sanctions.processor.metrics import ProcessorMetrics
from services.sanctions.processor.ownership import PublishingLease
from services.sanctions.processor.partitioning import group_partition, partition_of
from services.sanctions.processor.publishing import Publisher
from services.sanctions.processor.settings import ProcessorSettings

__all__ = ["CORRECTION_HEADERS", "Recovery", "read_to_end", "restore_beside_loop"]

log = logging.getLogger(__name__)

RETRY_INTERVAL_S = 1.0
"""Between two tries: to load the ledger, to read the alerts topic, to correct partitions gained."""
CORRECTION_HEADERS: tuple[tuple[str, bytes], ...] = (("gvi-correction", b"take-over"),)
"""Carried by each output a take-over correction sends (`Recovery._reconcile`), so that whoever reads
the derived topics can tell a repair of what a dead worker left from a decision of the rules."""


def _new_core(settings: ProcessorSettings) -> ProcessorCore:
    return ProcessorCore(window_days=settings.window_days, stall_days=settings.stall_days,
                         risk_days=settings.risk_days)


async def restore_beside_loop(core: ProcessorCore, entries: list[bytes],
                              committed: Mapping[TopicPartition, int], now: datetime) -> int:
    """`ProcessorCore.restore` of the fact table's `entries` in a worker thread, taking each entry out
    of the list as it is decoded (so the raw entries and the ledger built from them are not all held
    at once). A large history takes a minute or more to rebuild, and the health endpoints,
    the broker's heartbeats and the health timer run on the loop meanwhile: a worker whose loop
    stopped that long would be restarted by its liveness probe before it ever finished loading.
    Cancelled (the worker stopping), the thread stops reading entries and returns soon after."""
    entries.reverse()
    stopping = threading.Event()

    def drained() -> Iterator[bytes]:
        while entries and not stopping.is_set():
            yield entries.pop()

    try:
        return await asyncio.to_thread(core.restore, drained(), committed, now=now)
    except asyncio.CancelledError:
        stopping.set()
        raise


class Recovery:
    """Keeps the worker's ledger (`core`) loaded for the partitions it is assigned, and its share of
    the publishing corrected."""

    def __init__(self, app: BulkApp, facts: FactTable, publisher: Publisher, *, changelog_topic: str,
                 settings: ProcessorSettings, partitions: int, health: Health,
                 metrics: ProcessorMetrics) -> None:
        self.app = app
        self.facts = facts
        self.publisher = publisher
        self.changelog_topic = changelog_topic
        self.settings = settings
        self.partitions = partitions
        self.health = health
        self.metrics = metrics
        self.core = _new_core(settings)
        """The ledger, as last rebuilt (replaced by each `ensure_loaded` that rebuilds it)."""
        self.ledger_lock = asyncio.Lock()
        """Held while the ledger is rebuilt or partitions gained are corrected; batches take it too."""
        self.share_known = asyncio.Event()
        """Set once this worker knows its share of the publishing: records wait for it."""
        self._gained: set[int] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._loaded_for: frozenset[TP] | None = None

    # -- loading the ledger -------------------------------------------------------------------------
    async def ensure_loaded(self) -> bool:
        """Rebuild the ledger if the assignment changed since it was last built; False while this
        worker does not hold every source partition."""
        assigned = frozenset(self.app.consumer.assignment())
        if self._loaded_for == assigned:
            return True
        async with self.ledger_lock:
            if self._loaded_for == assigned:
                return True
            self.health.loaded, self._loaded_for = False, None
            self.health.forget()
            if not self._holds_every_partition(assigned):
                return False
            started = time.perf_counter()
            await keep_metadata_for(kafka_producer(self.app).client,
                                    (GROUP_STATE_TOPIC, ALERTS_TOPIC, self.changelog_topic))
            committed = await self._committed_offsets()
            core = _new_core(self.settings)
            restored = await restore_beside_loop(core, self._stored_facts(), committed, datetime.now(UTC))
            keep_out_of_collections()
            self.core = core
            owned = self.publisher.owned
            if owned or self._gained:  # corrected once caught up again, as partitions gained are
                await self._learn_last_alerts()
                self.take_over(owned)
            self._loaded_for, self.health.loaded = assigned, True
            self.metrics.open_cases.set(core.open_cases())
            log.info("ledger rebuilt from %d stored facts in %.1fs", restored, time.perf_counter() - started)
            return True

    def _holds_every_partition(self, assigned: frozenset[TP]) -> bool:
        """The rules join events across partitions (an incident's groups, a person's memberships), so
        one worker must read every source partition: a second member of its consumer group would
        publish states from half the events. A worker given only some (its own dead self, or a
        misconfigured twin under the same `GVI_PROCESSOR_ID`, still holds the others) handles nothing
        and is not ready until a rebalance gives it all of them."""
        sources = {(tp.topic, tp.partition) for tp in assigned if tp.topic in SOURCE_TOPIC_NAMES}
        wanted = {(topic, p) for topic in SOURCE_TOPIC_NAMES for p in range(self.partitions)}
        holds = sources == wanted
        if not holds and self.health.all_partitions:
            log.error("this worker was given %d of the %d source partitions: another member of its "
                      "consumer group (%s) holds the others; waiting for a rebalance", len(sources),
                      len(wanted), self.settings.app_id)
        self.health.all_partitions = holds
        return holds

    def _stored_facts(self) -> list[bytes]:
        """Every entry of the fact table, read on the loop: faust's store is not shared with other
        threads (its partitions' databases come and go with the assignment)."""
        return [value for _, value in self.facts.items()]

    async def _committed_offsets(self) -> dict[TopicPartition, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_servers,
                                    **self.settings.kafka_security().aiokafka())
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(self.settings.app_id)
        finally:
            await admin.close()
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()
                if tp.topic in SOURCE_TOPIC_NAMES and meta.offset >= 0}

    # -- the publishers -----------------------------------------------------------------------------
    async def join_publishers(self) -> None:
        """Once the ledger is loaded: take a share of the publishing (see `ownership`)."""
        while not await self.ensure_loaded():  # noqa: ASYNC110 (faust's assignment: nothing to await)
            await asyncio.sleep(RETRY_INTERVAL_S)
        while True:  # before any record is handled (they wait for the share of the publishing)
            try:
                await self._learn_last_alerts()
                break
            except (KafkaError, OSError, RuntimeError) as exc:
                log.warning("reading the alerts topic failed (%s); trying again", exc or type(exc).__name__)
                await asyncio.sleep(RETRY_INTERVAL_S)
        lease = PublishingLease(self.settings.kafka_bootstrap_servers, f"{self.settings.cluster}-publishers",
                                GROUP_STATE_TOPIC, on_gained=self._on_gained, on_losing=self._on_losing,
                                instance_id=self.settings.app_id,
                                session_timeout_ms=int(self.settings.session_timeout_seconds * 1000),
                                security=self.settings.kafka_security())
        self.publisher.lease = lease
        await lease.start()
        await lease.joined.wait()
        self.share_known.set()
        self.health.share_known = True

    async def leave_publishers(self) -> None:
        if self.publisher.lease is not None:
            await self.publisher.lease.stop()

    async def _on_gained(self, partitions: frozenset[int]) -> None:
        self.metrics.publishing.set(len(self.publisher.owned))
        self.take_over(partitions)

    async def _on_losing(self) -> None:
        await self.publisher.wait_acknowledged()
        self.metrics.publishing.set(len(self.publisher.owned))

    # -- taking over --------------------------------------------------------------------------------
    def take_over(self, partitions: frozenset[int]) -> None:
        """Correct `partitions` of the derived topics in the background, once caught up."""
        self._gained |= partitions
        self.health.taking_over = True
        task = asyncio.create_task(self._reconcile_gained())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _reconcile_gained(self) -> None:
        """Correct the partitions gained (or owned at a reload) once this worker has caught up with
        the source topics, retrying until it succeeds: a partition left uncorrected could keep a
        record that re-reading the events would never correct.

        Not before: after a restart the records handled but not committed before it are read again,
        and the derived topics already hold their outputs. Corrected from the ledger before those
        records are read again, an alert they raised would be withdrawn and raised again a moment
        later (and a case removed and opened again). Until then the worker only learns each alert's
        last record (before it joins the publishers, and at a reload), so that an alert derived
        again that says the same is not sent twice."""
        while True:
            if not await self.ensure_loaded():
                return  # the reload takes over every partition this worker owns by then
            try:
                if self.health.caught_up and await self._correct_gained():
                    return
            except Exception as exc:  # any failure: the partitions stay to be corrected, and retried
                log.warning("taking over group-state partitions failed (%s); trying again",
                            exc or type(exc).__name__)
            await asyncio.sleep(RETRY_INTERVAL_S)

    async def _correct_gained(self) -> bool:
        """Reconcile the partitions gained and still owned; False if new ones came meanwhile."""
        async with self.ledger_lock:
            gained = frozenset(self._gained) & self.publisher.owned
            self._gained.clear()
            started = time.perf_counter()
            try:
                records, alerts = await self._reconcile(gained) if gained else ([], [])
            except BaseException:
                self._gained |= gained
                raise
            if gained:
                log.info("took over group-state partitions %s: %d records and %d alerts corrected, "
                         "in %.1fs", ",".join(map(str, sorted(gained))), len(records), len(alerts),
                         time.perf_counter() - started)
            self.health.taking_over = bool(self._gained)
            return not self._gained

    async def _reconcile(self, partitions: frozenset[int]
                         ) -> tuple[list[Record], list[Alert | AlertWithdrawal]]:
        """Make `partitions` of the derived topics say what this worker's ledger says (after a
        restart, or on gaining them from another worker); returns what it sent."""
        publisher = self.publisher
        await publisher.wait_acknowledged()
        published, raised = await self._derived_topics(partitions)
        # Beside the event loop, not on it: over a large ledger this takes seconds, and the loop must
        # go on answering the health checks and the publishers' group heartbeats meanwhile. The
        # ledger lock, held by the caller, keeps every batch and every tick off the core until then.
        records, alerts = await asyncio.to_thread(self.core.reconcile, published, raised, datetime.now(UTC))
        records = [r for r in records if partition_of(r[0], self.partitions) in partitions]
        alerts = [a for a in alerts if group_partition(a.group_id, self.partitions) in partitions]
        await publisher.send_records(records, CORRECTION_HEADERS)
        await publisher.send_alerts(alerts, CORRECTION_HEADERS)
        await publisher.wait_acknowledged()
        return records, alerts

    async def _derived_topics(self, partitions: frozenset[int]
                              ) -> tuple[dict[bytes, bytes], dict[str, bytes]]:
        """What `group-state` holds now (live keys) in `partitions`, and the alerts whose last
        record raises them."""
        published: dict[bytes, bytes | None] = {}
        for record in await read_to_end(self.settings.kafka_bootstrap_servers, GROUP_STATE_TOPIC,
                                        partitions, self.settings.kafka_security()):
            if record.key is not None:
                published[record.key] = record.value
        last = await self._learn_last_alerts()
        raised = {k: v for k, v in last.items() if b'"withdrawn":true' not in v}
        return {k: v for k, v in published.items() if v is not None}, raised

    async def _learn_last_alerts(self) -> dict[str, bytes]:
        """Each alert's last record on the topic (also given to the publisher, see
        `Publisher.send_alerts`)."""
        last: dict[str, bytes] = {}
        for record in await read_to_end(self.settings.kafka_bootstrap_servers, ALERTS_TOPIC,
                                        security=self.settings.kafka_security()):
            if record.key is not None and record.value is not None:
                last[record.key.decode()] = record.value
        self.publisher.remember_alerts(last)
        return last


async def read_to_end(bootstrap: str, topic: str, partitions: frozenset[int] | None = None,
                      security: KafkaSecurity = PLAINTEXT) -> list[Any]:
    """Every committed record of `topic` (of its `partitions`, or all) from its start to its current
    end, each partition's in offset order (`services.infra.feed.read_to_end`). A missing topic is an
    error that says to create the topics (given `partitions`, the topic exists: they are partitions of
    it that the publishing lease handed out)."""
    sources = [topic] if partitions is None else [KafkaTopicPartition(topic, p) for p in sorted(partitions)]
    reading = feed.read_to_end(bootstrap, sources, client_id="gvi-processor-read", security=security)
    try:
        return [record async for _, records in reading for record in records]
    except feed.MissingTopic as exc:
        raise RuntimeError(f"topic {topic!r} does not exist: create the topics first") from exc
