"""The faust-streaming edge of the processor: topics, the fact store, the consumer, the clock, HTTP.

The worker reads the three source topics with `read_committed` under one faust agent (concurrency
1: faust-streaming issue 606 loses messages above 1), whose consumer hands each fetch's records to
`ProcessorCore` in bulk (see `faust_adapter`). It keeps the counting copy of every
event in the RocksDB-backed `facts` table (changelogged, so a lost disk is recovered from Kafka),
sends the outputs as record batches, and commits offsets only once all of that is acknowledged
(at-least-once, with outputs that are harmless to repeat). After table recovery, and after any
change of its partitions, the worker rebuilds its ledger from the table (see `ProcessorCore.restore`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from faust.types import TP, Message, StreamT

from services.contracts import ALERTS_TOPIC, GROUP_STATE_TOPIC, canonical_json
from services.contracts import Service as SourceService
from services.contracts.alerts import Alert, AlertWithdrawal, alert_key
from services.contracts.group_state_records import Record
from services.infra import feed
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity
from services.sanctions.processor.core import ProcessorCore, TopicPartition
from services.sanctions.processor.faust_adapter import (
    BulkApp,
    FactTable,
    broker_answers,
    changelog_topic_name,
    current_message,
    kafka_producer,
    keep_metadata_for,
    source_lag,
)
from services.sanctions.processor.health import Health
from services.sanctions.processor.metrics import ProcessorMetrics
from services.sanctions.processor.ownership import PublishingLease
from services.sanctions.processor.partitioning import group_partition, key_partition, partition_of
from services.sanctions.processor.settings import ProcessorSettings

__all__ = ["FACTS_TABLE", "SOURCE_TOPICS", "Processor", "read_to_end"]

log = logging.getLogger(__name__)

SOURCE_TOPICS: tuple[str, ...] = tuple(service.topic for service in SourceService)
FACTS_TABLE = "facts"
HEALTH_INTERVAL_S = 1.0
BATCH_MAX_EVENTS = 2000  # records per fetch, handled together
FACT_ENTRY_MAX_BYTES = 256 * 1024
PRODUCER_LINGER_MS = 5  # outputs of consecutive events share produce requests
CORRECTION_HEADERS: tuple[tuple[str, bytes], ...] = (("gvi-correction", b"take-over"),)
"""Carried by each output a take-over correction sends (`_reconcile`), so that whoever reads the
derived topics can tell a repair of what a dead worker left from a decision of the rules."""


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


class Processor:
    """The worker: a faust app around one `ProcessorCore`, and the app's `BulkHandler`."""

    bulk_topics = frozenset(SOURCE_TOPICS)

    def __init__(self, settings: ProcessorSettings, partitions: int, metrics: ProcessorMetrics) -> None:
        self.settings = settings
        self.partitions = partitions
        self.metrics = metrics
        self.core = ProcessorCore(window_days=settings.window_days, stall_days=settings.stall_days,
                                  risk_days=settings.risk_days)
        self.health = Health(max_pending=settings.max_pending_seconds,
                             broker_timeout=settings.broker_timeout_seconds,
                             liveness_bound=settings.liveness_seconds)
        self.lease: PublishingLease | None = None
        self._share_known = asyncio.Event()
        self._gained: set[int] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._loaded_for: frozenset[TP] | None = None
        self._load_lock = asyncio.Lock()
        self._last_alerts: dict[str, bytes] = {}  # alert id -> its last record on the topic
        self.app = BulkApp(
            settings.app_id,
            broker=_broker_urls(settings.kafka_bootstrap_servers),
            broker_credentials=settings.kafka_security().faust_credentials(),
            store="rocksdb://",
            datadir=str(settings.data_dir),
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            # static membership: a worker restarted under its id takes its partitions back at once,
            # instead of waiting out its dead self's session (see docs/operations.md, "Failover")
            consumer_group_instance_id=settings.app_id,
            broker_session_timeout=settings.session_timeout_seconds,
            broker_heartbeat_interval=settings.session_timeout_seconds / 3,
            topic_partitions=partitions,
            topic_replication_factor=settings.replication_factor,
            topic_allow_declare=True,
            key_serializer="raw",
            value_serializer="raw",
            web_enabled=False,
            producer_acks=-1,
            producer_linger_ms=PRODUCER_LINGER_MS,
            broker_commit_interval=1.0,
            stream_wait_empty=False,
            broker_max_poll_records=BATCH_MAX_EVENTS,
        )
        self.app.handler = self
        self._unacked: list[Awaitable[Any]] = []
        self.facts = FactTable(self.app, name=FACTS_TABLE, key_type=bytes, value_type=bytes,
                               partitions=partitions, beacon=self.app.tables.beacon)
        self.facts.on_send = self._sent
        self.app.tables.add(self.facts)
        self.source = self.app.topic(*SOURCE_TOPICS, key_type=bytes, value_type=bytes,
                                     key_serializer="raw", value_serializer="raw")
        self.app.agent(self.source, name="process", concurrency=1)(self._subscribe)
        self.app.task(self._join_publishers)  # tasks start once table recovery is done
        self.app.timer(settings.stall_check_seconds, name="stall-check")(self._check_stalls)
        self.app.timer(HEALTH_INTERVAL_S, name="health")(self._check_health)

    @property
    def changelog_topic(self) -> str:
        return changelog_topic_name(self.settings.app_id, FACTS_TABLE)

    # -- the stream ---------------------------------------------------------------------------------
    async def _subscribe(self, stream: StreamT[bytes]) -> None:
        """The agent that subscribes the worker to the source topics: faust assigns their partitions,
        and the fact table's, by its agents' topics. Their records never reach its stream: the
        consumer hands them to `take_records` in bulk (`faust_adapter`)."""
        async for _ in stream:
            raise RuntimeError("a source record reached the agent's stream; they are handled in bulk")

    async def take_records(self, messages: Sequence[Message]) -> bool:
        """Apply a batch of source records in order; publish the last record of each key they
        changed and every alert raised or withdrawn across the batch. False (not taken) while this
        worker does not hold every source partition."""
        if not await self._ensure_loaded():
            return False
        # Until this worker knows its share of the publishing it could publish nothing, and every
        # record it derived would have to be reconciled from the ledger later: wait (once).
        await self._share_known.wait()
        async with self._load_lock:  # not while a gained partition is being reconciled
            await self._handle(messages)
        now, last = time.monotonic(), {}
        for message in messages:
            last[message.tp] = message.offset
        for tp, offset in last.items():
            self.health.handled(tp, offset + 1, now)
        return True

    def fetching(self) -> None:
        self.health.fetching()

    async def before_commit(self) -> None:
        await self.wait_acknowledged()

    def committed(self, offsets: Mapping[TP, int]) -> None:
        self.health.committed(offsets)

    async def _handle(self, messages: Sequence[Message]) -> None:
        outputs = self.core.accept([(m.topic, m.partition, m.offset, m.value) for m in messages],
                                   now=datetime.now(UTC))
        stores: dict[TopicPartition, list[tuple[Message, bytes]]] = {}
        processed: list[tuple[str, str, float | None]] = []
        for message, read in zip(messages, outputs.reads, strict=True):
            if read.rejected is not None:
                # the record's content is never logged: it may name people
                log.warning("skipped a record that is not an event (%s) at %s/%d@%d", read.rejected,
                            message.topic, message.partition, message.offset)
                self.metrics.rejected(message.topic, read.rejected)
                continue
            if read.conflicting_copy:
                self.metrics.conflicting_copy(message.topic, read.event_type)
            if read.store is not None:
                stores.setdefault((message.topic, message.partition), []).append((message, read.store))
            processed.append((message.topic, read.event_type, message.timestamp))
        self._keep_facts(stores)  # the batch is not awaited: a commit waits for what it wrote
        await self._send_records(outputs.records)
        await self._send_alerts(outputs.alerts)
        self.metrics.processed(processed)  # latency: up to the outputs handed to the producer
        self.metrics.open_cases.set(self.core.open_cases())

    def _keep_facts(self, stores: dict[TopicPartition, list[tuple[Message, bytes]]]) -> None:
        """One fact-table entry per source partition and batch (split to stay well under Kafka's
        record size), keyed by its first fact's position: one changelog record, not hundreds."""
        for (topic, partition), frames in stores.items():
            chunk: list[bytes] = []
            size, first = 0, frames[0][0]
            for message, frame in frames:
                if chunk and size + len(frame) > FACT_ENTRY_MAX_BYTES:
                    self._keep(topic, partition, first, chunk)
                    chunk, size, first = [], 0, message
                chunk.append(frame)
                size += len(frame)
            self._keep(topic, partition, first, chunk)

    def _keep(self, topic: str, partition: int, first: Message, frames: list[bytes]) -> None:
        with current_message(first):  # the changelog record goes to the partition of the entry's first
            self.facts[canonical_json([topic, partition, first.offset])] = b"".join(frames)

    def _publishes(self, partition: int) -> bool:
        return self.lease is not None and self.lease.owns(partition)

    async def _send_records(self, records: Sequence[Record],
                            headers: Sequence[tuple[str, bytes]] = ()) -> None:
        """Send the records of the partitions this worker publishes (the others' owners send theirs)."""
        partitions, owns = self.partitions, self._publishes
        await self._send(GROUP_STATE_TOPIC, [
            (partition, key, value) for key, value in records
            if owns(partition := partition_of(key, partitions))], headers)

    async def _send_alerts(self, alerts: Sequence[Alert | AlertWithdrawal],
                           headers: Sequence[tuple[str, bytes]] = ()) -> None:
        """Send the alerts about groups of the partitions this worker publishes, each to the partition
        Kafka's default partitioner gives its id (so an alert and its withdrawal share one), unless
        the alert's last record, as this worker last read or wrote it, already says the same: after a
        restart the events since the last commit are read again, and their alerts were published."""
        if not alerts:
            return
        count = len(await kafka_producer(self.app).partitions_for(ALERTS_TOPIC))
        partitions, owns, last = self.partitions, self._publishes, self._last_alerts
        records = []
        for alert in alerts:
            if not owns(group_partition(alert.group_id, partitions)):
                continue
            value = alert.to_json()
            if last.get(alert.alert_id) == value:
                continue  # the topic's last record of this alert says so already (events read again)
            last[alert.alert_id] = value
            records.append((key_partition(key := alert_key(alert.alert_id), count), key, value))
        await self._send(ALERTS_TOPIC, records, headers)

    async def _send(self, topic: str, records: Sequence[tuple[int, bytes, bytes | None]],
                    headers: Sequence[tuple[str, bytes]] = ()) -> None:
        """Send (partition, key, value) records, in order, as one record batch per partition (or more,
        each up to the producer's batch size): handing aiokafka a record at a time cost more than the
        rules. Each batch's delivery joins the unacknowledged sends that a commit waits for."""
        if not records:
            return
        producer, sent = kafka_producer(self.app), self._sent
        headers = list(headers)  # aiokafka's record batch takes a list only
        batches: dict[int, Any] = {}
        for partition, key, value in records:
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                # full: send it, and start another (an empty batch takes any record)
                sent(await producer.send_batch(batch, topic, partition=partition))
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)
        for partition, batch in batches.items():
            sent(await producer.send_batch(batch, topic, partition=partition))

    def _sent(self, acknowledgement: Awaitable[Any]) -> None:
        """An output handed to the producer: a commit waits for it, readiness watches its age."""
        self._unacked.append(acknowledgement)
        self.health.sent(acknowledgement, time.monotonic())  # type: ignore[arg-type]

    async def wait_acknowledged(self) -> None:
        """Wait until the broker has acknowledged every fact, record and alert sent so far (a
        failed send raises: the offsets are not committed, and the events are read again)."""
        unacked = list(self._unacked)
        del self._unacked[:len(unacked)]
        if unacked:
            await asyncio.gather(*unacked)

    # -- recovery -----------------------------------------------------------------------------------
    async def _ensure_loaded(self) -> bool:
        """Rebuild the ledger if the assignment changed since it was last built; False while this
        worker does not hold every source partition."""
        assigned = frozenset(self.app.consumer.assignment())
        if self._loaded_for == assigned:
            return True
        async with self._load_lock:
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
            core = ProcessorCore(window_days=self.settings.window_days, stall_days=self.settings.stall_days,
                                 risk_days=self.settings.risk_days)
            restored = core.restore(self._stored_facts(), committed, now=datetime.now(UTC))
            self.core = core
            owned = self.lease.owned if self.lease is not None else frozenset()
            if owned or self._gained:  # corrected once caught up again, as partitions gained are
                await self._learn_last_alerts()
                self._take_over(owned)
            self._loaded_for, self.health.loaded = assigned, True
            self.metrics.open_cases.set(core.open_cases())
            log.info("ledger rebuilt from %d stored facts in %.1fs", restored, time.perf_counter() - started)
            return True

    async def _reconcile(self, partitions: frozenset[int]
                         ) -> tuple[list[Record], list[Alert | AlertWithdrawal]]:
        """Make `partitions` of the derived topics say what this worker's ledger says (after a
        restart, or on gaining them from another worker); returns what it sent."""
        await self.wait_acknowledged()
        published, raised = await self._derived_topics(partitions)
        records, alerts = self.core.reconcile(published, raised, datetime.now(UTC))
        records = [r for r in records if partition_of(r[0], self.partitions) in partitions]
        alerts = [a for a in alerts if group_partition(a.group_id, self.partitions) in partitions]
        await self._send_records(records, CORRECTION_HEADERS)
        await self._send_alerts(alerts, CORRECTION_HEADERS)
        await self.wait_acknowledged()
        return records, alerts

    async def _join_publishers(self) -> None:
        """Once the ledger is loaded: take a share of the publishing (see `ownership`)."""
        while not await self._ensure_loaded():  # noqa: ASYNC110 (faust's assignment: nothing to await)
            await asyncio.sleep(HEALTH_INTERVAL_S)
        while True:  # before any record is handled (they wait for the share of the publishing)
            try:
                await self._learn_last_alerts()
                break
            except (KafkaError, OSError, RuntimeError) as exc:
                log.warning("reading the alerts topic failed (%s); trying again", exc or type(exc).__name__)
                await asyncio.sleep(HEALTH_INTERVAL_S)
        lease = PublishingLease(self.settings.kafka_bootstrap_servers, f"{self.settings.cluster}-publishers",
                                GROUP_STATE_TOPIC, on_gained=self._on_gained, on_losing=self._on_losing,
                                instance_id=self.settings.app_id,
                                session_timeout_ms=int(self.settings.session_timeout_seconds * 1000),
                                security=self.settings.kafka_security())
        self.lease = lease
        await lease.start()
        await lease.joined.wait()
        self._share_known.set()
        self.health.share_known = True

    async def leave_publishers(self) -> None:
        if self.lease is not None:
            await self.lease.stop()

    async def _on_gained(self, partitions: frozenset[int]) -> None:
        self.metrics.publishing.set(len(self.lease.owned) if self.lease is not None else 0)
        self._take_over(partitions)

    def _take_over(self, partitions: frozenset[int]) -> None:
        self._gained |= partitions
        self.health.taking_over = True
        task = asyncio.create_task(self._reconcile_gained())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _on_losing(self) -> None:
        await self.wait_acknowledged()
        self.metrics.publishing.set(len(self.lease.owned) if self.lease is not None else 0)

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
            if not await self._ensure_loaded():
                return  # the reload takes over every partition this worker owns by then
            try:
                if self.health.caught_up and await self._correct_gained():
                    return
            except Exception as exc:  # any failure: the partitions stay to be corrected, and retried
                log.warning("taking over group-state partitions failed (%s); trying again",
                            exc or type(exc).__name__)
            await asyncio.sleep(HEALTH_INTERVAL_S)

    async def _correct_gained(self) -> bool:
        """Reconcile the partitions gained and still owned; False if new ones came meanwhile."""
        async with self._load_lock:
            owned = self.lease.owned if self.lease is not None else frozenset()
            gained = frozenset(self._gained) & owned
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

    def _holds_every_partition(self, assigned: frozenset[TP]) -> bool:
        """The rules join events across partitions (an incident's groups, a person's memberships), so
        one worker must read every source partition: a second member of its consumer group would
        publish states from half the events. A worker given only some (its own dead self, or a
        misconfigured twin under the same `GVI_PROCESSOR_ID`, still holds the others) handles nothing
        and is not ready until a rebalance gives it all of them."""
        sources = {(tp.topic, tp.partition) for tp in assigned if tp.topic in SOURCE_TOPICS}
        wanted = {(topic, p) for topic in SOURCE_TOPICS for p in range(self.partitions)}
        holds = sources == wanted
        if not holds and self.health.all_partitions:
            log.error("this worker was given %d of the %d source partitions: another member of its "
                      "consumer group (%s) holds the others; waiting for a rebalance", len(sources),
                      len(wanted), self.settings.app_id)
        self.health.all_partitions = holds
        return holds

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
        """Each alert's last record on the topic (also kept, see `_send_alerts`)."""
        last: dict[str, bytes] = {}
        for record in await read_to_end(self.settings.kafka_bootstrap_servers, ALERTS_TOPIC,
                                        security=self.settings.kafka_security()):
            if record.key is not None and record.value is not None:
                last[record.key.decode()] = record.value
        self._last_alerts.update(last)
        return last

    def _stored_facts(self) -> Iterator[bytes]:
        for _, value in self.facts.items():
            yield value

    async def _committed_offsets(self) -> dict[TopicPartition, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap_servers,
                                    **self.settings.kafka_security().aiokafka())
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(self.settings.app_id)
        finally:
            await admin.close()
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()
                if tp.topic in SOURCE_TOPICS and meta.offset >= 0}

    # -- the clock ----------------------------------------------------------------------------------
    async def _check_stalls(self) -> None:
        if not await self._ensure_loaded():
            return
        now = datetime.now(UTC)
        # Not before the worker has caught up: the events read again after a restart may have
        # sanctioned a case the ledger still has awaiting, and its stall alert, withdrawn before
        # the restart, would be raised again for a moment. Under the batches' lock: a stall alert
        # and the withdrawal a batch derives for it must reach the topic in the order derived.
        if self.health.caught_up:
            async with self._load_lock:
                await self._send_alerts(self.core.tick(now))
        self.metrics.stalled_cases.set(self.core.stalled_cases(now))
        self.metrics.set_swiftness(self.core.swiftness())

    async def _check_health(self) -> None:
        """Once a second: ask the broker, measure the lag, see whether the worker has caught up."""
        timeout = self.settings.broker_timeout_seconds / 3
        try:
            await asyncio.wait_for(broker_answers(self.app), timeout)
            self.health.broker_answered(time.monotonic())
        except (KafkaError, OSError, TimeoutError) as exc:
            log.debug("the broker did not answer: %s", type(exc).__name__)
        lag = await source_lag(self.app, self.bulk_topics)
        for tp, records in lag.items():
            self.metrics.lag(tp.topic, tp.partition, records)
        if self.health.loaded:
            every = len(lag) == len(SOURCE_TOPICS) * self.partitions
            self.health.follow_catch_up(every and not any(lag.values()))
        self.metrics.health(self.health, time.monotonic())

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
