"""The faust-streaming edge of the processor: topics, the fact store, the consumer, the clock, HTTP.

The worker reads the three source topics with `read_committed` under one faust agent (concurrency
1: faust-streaming issue 606 loses messages above 1), whose consumer hands each fetch's records to
`ProcessorCore` in bulk (see `_Consumer._drain_messages`). It keeps the counting copy of every
event in the RocksDB-backed `facts` table (changelogged, so a lost disk is recovered from Kafka),
sends the outputs as record batches, and commits offsets only once all of that is acknowledged
(at-least-once, with outputs that are harmless to repeat). After table recovery, and after any
change of its partitions, the worker rebuilds its ledger from the table (see `ProcessorCore.restore`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from faust.streams import _current_event
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT, Message, StreamT
from mode import Service

from services.contracts import Service as SourceService
from services.contracts import canonical_json
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity
from services.sanctions.domain import Alert, AlertWithdrawal
from services.sanctions.domain.records import (
    GROUP_STATE_TOPIC,
    Record,
    group_partition,
    key_partition,
    partition_of,
)
from services.sanctions.processor.core import ProcessorCore, TopicPartition
from services.sanctions.processor.metrics import ProcessorMetrics
from services.sanctions.processor.ownership import PublishingLease
from services.sanctions.processor.settings import ProcessorSettings

__all__ = ["ALERTS_TOPIC", "SOURCE_TOPICS", "HttpService", "Processor", "PublishingService"]

log = logging.getLogger(__name__)

SOURCE_TOPICS: tuple[str, ...] = tuple(service.topic for service in SourceService)
ALERTS_TOPIC = "alerts"
LAG_INTERVAL_S = 5.0
FETCH_MAX_WAIT_MS = 100
EXIT_PARTIAL_ASSIGNMENT = 3
BATCH_MAX_EVENTS = 2000  # records per fetch, handled together
FACT_ENTRY_MAX_BYTES = 256 * 1024
PRODUCER_LINGER_MS = 5  # outputs of consecutive events share produce requests


class _ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust reads `read_committed` only with exactly-once processing; the intake writes in
    transactions, so an at-least-once worker must too, or it would process records whose
    transaction was aborted (events the intake answered 503 for). And faust waits up to 1.5 s in
    each fetch: a transaction's commit marker does not end that wait, so records committed during
    it would wait for its end; 100 ms keeps the latency from intake to group state low."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands both to its fetcher on start()
        consumer._isolation_level = "read_committed"
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        """Commit only once everything written for the events before these offsets is acknowledged:
        faust's own `producer.flush()` before a commit gives up after 0.1 s without progress."""
        barrier = getattr(self.app, "before_commit", None)
        if barrier is not None:
            await barrier()
        return bool(await super()._commit_offsets(offsets, start_new_transaction=start_new_transaction))

    async def _drain_messages(self, fetcher: Any) -> None:
        """faust's fetch loop (`faust.transport.consumer.Consumer._drain_messages` with its
        `getmany`), changed in two ways.

        * The records of the topics in `app.bulk_topics` (the source topics) go to
          `app.take_records` in bulk, each fetch's records in one call, and are acked when it
          returns, so that faust commits their offsets only then (through the barrier above). Other
          records (the fact table's changelog) go to faust's conductor as before. faust would make
          an event of each record, pass it through a queue and a stream, and await a pair of tasks
          for it: that cost several times what the rules cost.
        * A fetched record is never dropped. faust's `getmany` silently skips the records of a
          partition that was paused while it iterated over a fetch (flow control, a rebalance),
          though the consumer's position has already moved past them; its fetch loop then counts
          the jump in offsets as a gap and commits past it. Here a fetch is handled whole, unless
          the flow stops or a rebalance starts: the rest is then read again from the committed
          offsets (faust seeks to them before it resumes the flow).

        Offsets are otherwise tracked as faust does: a record before its partition's read offset is
        skipped (a fetch that raced a seek), and a jump in offsets (transaction markers, aborted
        records) is recorded as a gap, so that commits can move past it."""
        take: Callable[[list[Any]], Awaitable[None]] = self.app.take_records  # type: ignore[attr-defined]
        bulk_topics: frozenset[str] = self.app.bulk_topics  # type: ignore[attr-defined]
        callback, ack, to_message = self.callback, self.ack, self._to_message
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        read_offsets = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        app = self.app
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records, _ = await self._wait_next_records(1.0)
                generation = app.consumer_generation_id
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    await self.perform_seek()  # as faust's getmany: these are read again
                    continue
                batch: list[Any] = []
                for tp, record in self.scheduler.iterate(records):
                    if not self.flow_active or app.consumer_generation_id != generation:
                        break  # faust seeks to the committed offsets before the flow resumes
                    offset, r_offset = record.offset, read_offsets[tp]
                    if r_offset is not None and offset < r_offset:
                        continue
                    if r_offset and offset - r_offset > 1 and acks_enabled_for(tp.topic):
                        await self._add_gap(tp, r_offset + 1, offset)
                    message = to_message(tp, record)
                    if tp.topic in bulk_topics:
                        batch.append(message)
                    else:
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                    read_offsets[tp] = offset
                if batch:
                    await take(batch)
                    for message in batch:
                        ack(message)
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class _App(faust.App):
    before_commit: Callable[[], Awaitable[None]] | None = None
    take_records: Callable[[list[Message]], Awaitable[None]]
    bulk_topics: frozenset[str] = frozenset()

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


class _FactTable(faust.Table[bytes, bytes]):
    """The fact table, whose changelog writes the worker waits for before it commits offsets.

    faust hands table writes to its producer through a buffer that `producer.flush()` (what faust
    awaits before committing offsets) may leave unsent: it gives up after 0.1 s without progress. An
    offset committed while its fact still sat there would lose the fact at the next restart (not in
    the table, not read again). So every changelog write joins the worker's unacknowledged sends,
    which a commit awaits first."""

    unacked: list[Any]

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        future = super().send_changelog(*args, **kwargs)
        self.unacked.append(future)
        return future


class _At:
    """What faust's table reads of its "current event" to choose a changelog partition."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, message: Message) -> None:
        self.message = message


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


class Processor:
    """The worker: a faust app around one `ProcessorCore`."""

    def __init__(self, settings: ProcessorSettings, partitions: int, metrics: ProcessorMetrics) -> None:
        self.settings = settings
        self.partitions = partitions
        self.metrics = metrics
        self.core = ProcessorCore(window_days=settings.window_days, stall_days=settings.stall_days)
        self.ready = False
        self.lease: PublishingLease | None = None
        self._share_known = asyncio.Event()
        self._gained: set[int] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._loaded_for: frozenset[TP] | None = None
        self._load_lock = asyncio.Lock()
        self.app = _App(
            settings.app_id,
            broker=_broker_urls(settings.kafka_bootstrap_servers),
            broker_credentials=settings.kafka_security().faust_credentials(),
            store="rocksdb://",
            datadir=str(settings.data_dir),
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
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
        self._unacked: list[Any] = []
        self.facts = _FactTable(self.app, name="facts", key_type=bytes, value_type=bytes,
                                partitions=partitions, beacon=self.app.tables.beacon)
        self.facts.unacked = self._unacked
        self.app.before_commit = self.wait_acknowledged
        self.app.tables.add(self.facts)
        self.source = self.app.topic(*SOURCE_TOPICS, key_type=bytes, value_type=bytes,
                                     key_serializer="raw", value_serializer="raw")
        self.app.bulk_topics = frozenset(SOURCE_TOPICS)
        self.app.take_records = self.handle
        self.app.agent(self.source, name="process", concurrency=1)(self._subscribe)
        self.app.task(self._join_publishers)  # tasks start once table recovery is done
        self.app.timer(settings.stall_check_seconds, name="stall-check")(self._check_stalls)
        self.app.timer(LAG_INTERVAL_S, name="measure-lag")(self._measure_lag)

    # -- the stream ---------------------------------------------------------------------------------
    async def _subscribe(self, stream: StreamT[bytes]) -> None:
        """The agent that subscribes the worker to the source topics: faust assigns their partitions,
        and the fact table's, by its agents' topics. Their records never reach its stream: the
        consumer hands them to `handle` in bulk (`_Consumer._drain_messages`)."""
        async for _ in stream:
            raise RuntimeError("a source record reached the agent's stream; they are handled in bulk")

    async def handle(self, messages: Sequence[Message]) -> None:
        """Apply a batch of source records in order; publish the last record of each key they
        changed and every alert raised or withdrawn across the batch."""
        await self._ensure_loaded()
        # Until this worker knows its share of the publishing it could publish nothing, and every
        # record it derived would have to be reconciled from the ledger later: wait (once).
        await self._share_known.wait()
        async with self._load_lock:  # not while a gained partition is being reconciled
            await self._handle(messages)

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
        # the table writes its changelog to the partition of faust's "current event" (all it reads
        # of it is its message): make it this entry's first record
        at = _At(first)
        _current_event.set(weakref.ref(cast(EventT[Any], at)))
        self.facts[canonical_json([topic, partition, first.offset])] = b"".join(frames)

    def _publishes(self, partition: int) -> bool:
        return self.lease is not None and self.lease.owns(partition)

    async def _send_records(self, records: Sequence[Record]) -> None:
        """Send the records of the partitions this worker publishes (the others' owners send theirs)."""
        partitions, owns = self.partitions, self._publishes
        await self._send(GROUP_STATE_TOPIC, [
            (partition, key, value) for key, value in records
            if owns(partition := partition_of(key, partitions))])

    async def _send_alerts(self, alerts: Sequence[Alert | AlertWithdrawal]) -> None:
        """Send the alerts about groups of the partitions this worker publishes, each to the partition
        Kafka's default partitioner gives its id (so an alert and its withdrawal share one)."""
        if not alerts:
            return
        producer = self.app.producer._ensure_producer()  # type: ignore[attr-defined]
        count = len(await producer.partitions_for(ALERTS_TOPIC))
        partitions, owns = self.partitions, self._publishes
        await self._send(ALERTS_TOPIC, [
            (key_partition(key := alert.alert_id.encode(), count), key, alert.to_json()) for alert in alerts
            if owns(group_partition(alert.group_id, partitions))])

    async def _send(self, topic: str, records: Sequence[tuple[int, bytes, bytes | None]]) -> None:
        """Send (partition, key, value) records, in order, as one record batch per partition (or more,
        each up to the producer's batch size): handing aiokafka a record at a time cost more than the
        rules. Each batch's delivery joins the unacknowledged sends that a commit waits for."""
        if not records:
            return
        producer = self.app.producer._ensure_producer()  # type: ignore[attr-defined]
        unacked = self._unacked
        batches: dict[int, Any] = {}
        for partition, key, value in records:
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                unacked.append(await producer.send_batch(batch, topic, partition=partition))
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)  # an empty batch takes any record
        for partition, batch in batches.items():
            unacked.append(await producer.send_batch(batch, topic, partition=partition))

    async def wait_acknowledged(self) -> None:
        """Wait until the broker has acknowledged every fact, record and alert sent so far (a
        failed send raises: the offsets are not committed, and the events are read again)."""
        unacked = list(self._unacked)
        del self._unacked[:len(unacked)]
        if unacked:
            await asyncio.gather(*unacked)

    # -- recovery -----------------------------------------------------------------------------------
    async def _ensure_loaded(self) -> None:
        assigned = frozenset(self.app.consumer.assignment())
        if self._loaded_for == assigned:
            return
        async with self._load_lock:
            if self._loaded_for == assigned:
                return
            await self._require_every_partition(assigned)
            started = time.perf_counter()
            committed = await self._committed_offsets()
            core = ProcessorCore(window_days=self.settings.window_days, stall_days=self.settings.stall_days)
            restored = core.restore(self._stored_facts(), committed)
            self.core = core
            owned = self.lease.owned if self.lease is not None else frozenset()
            records, alerts = await self._reconcile(owned) if owned else ([], [])
            self._loaded_for, self.ready = assigned, True
            self.metrics.open_cases.set(core.open_cases())
            log.info("ledger rebuilt from %d stored facts, %d records and %d alerts corrected, in %.1fs",
                     restored, len(records), len(alerts), time.perf_counter() - started)

    async def _reconcile(self, partitions: frozenset[int]
                         ) -> tuple[list[Record], list[Alert | AlertWithdrawal]]:
        """Make `partitions` of the derived topics say what this worker's ledger says (after a
        restart, or on gaining them from another worker); returns what it sent."""
        await self.wait_acknowledged()
        published, raised = await self._derived_topics(partitions)
        records, alerts = self.core.reconcile(published, raised, datetime.now(UTC))
        records = [r for r in records if partition_of(r[0], self.partitions) in partitions]
        alerts = [a for a in alerts if group_partition(a.group_id, self.partitions) in partitions]
        await self._send_records(records)
        await self._send_alerts(alerts)
        await self.wait_acknowledged()
        return records, alerts

    async def _join_publishers(self) -> None:
        """Once the ledger is loaded: take a share of the publishing (see `ownership`)."""
        await self._ensure_loaded()
        lease = PublishingLease(self.settings.kafka_bootstrap_servers, f"{self.settings.cluster}-publishers",
                                GROUP_STATE_TOPIC, on_gained=self._on_gained, on_losing=self._on_losing,
                                security=self.settings.kafka_security())
        self.lease = lease
        await lease.start()
        await lease.joined.wait()
        self._share_known.set()

    async def leave_publishers(self) -> None:
        if self.lease is not None:
            await self.lease.stop()

    async def _on_gained(self, partitions: frozenset[int]) -> None:
        self._gained |= partitions
        self.metrics.publishing.set(len(self.lease.owned) if self.lease is not None else 0)
        task = asyncio.create_task(self._reconcile_gained())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _on_losing(self) -> None:
        await self.wait_acknowledged()
        self.metrics.publishing.set(len(self.lease.owned) if self.lease is not None else 0)

    async def _reconcile_gained(self) -> None:
        await self._ensure_loaded()
        async with self._load_lock:
            gained = frozenset(self._gained) & (self.lease.owned if self.lease is not None else frozenset())
            self._gained.clear()
            if gained:
                started = time.perf_counter()
                records, alerts = await self._reconcile(gained)
                log.info("took over group-state partitions %s: %d records and %d alerts corrected, in %.1fs",
                         ",".join(map(str, sorted(gained))), len(records), len(alerts),
                         time.perf_counter() - started)

    def is_ready(self) -> bool:
        """Ledger loaded and the share of the publishing known (possibly none: a standby worker)."""
        return self.ready and self.lease is not None and self.lease.joined.is_set()

    async def _require_every_partition(self, assigned: frozenset[TP]) -> None:
        """The rules join events across partitions (an incident's groups, a person's memberships), so
        one worker must read every source partition: a second worker in the group would publish
        states from half the events. Until the rules are partitioned, a worker given only some
        partitions stops, loudly, instead (run one replica)."""
        sources = {(tp.topic, tp.partition) for tp in assigned if tp.topic in SOURCE_TOPICS}
        wanted = {(topic, p) for topic in SOURCE_TOPICS for p in range(self.partitions)}
        if sources != wanted:
            self.ready = False
            message = (f"this worker was given {len(sources)} of the {len(wanted)} source partitions; "
                       f"the processor runs as one worker per consumer group ({self.settings.app_id}): "
                       "stop the other worker")
            log.error(message)
            logging.shutdown()
            os._exit(EXIT_PARTIAL_ASSIGNMENT)  # faust's crash() leaves the process up; nothing to flush

    async def _derived_topics(self, partitions: frozenset[int]
                              ) -> tuple[dict[bytes, bytes], dict[str, bytes]]:
        """What `group-state` holds now (live keys) in `partitions`, and the alerts whose last
        record raises them."""
        published: dict[bytes, bytes | None] = {}
        for record in await read_to_end(self.settings.kafka_bootstrap_servers, GROUP_STATE_TOPIC,
                                        partitions, self.settings.kafka_security()):
            if record.key is not None:
                published[record.key] = record.value
        last: dict[str, bytes] = {}
        for record in await read_to_end(self.settings.kafka_bootstrap_servers, ALERTS_TOPIC,
                                        security=self.settings.kafka_security()):
            if record.key is not None and record.value is not None:
                last[record.key.decode()] = record.value
        raised = {k: v for k, v in last.items() if b'"withdrawn":true' not in v}
        return {k: v for k, v in published.items() if v is not None}, raised

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
        await self._ensure_loaded()
        now = datetime.now(UTC)
        # under the batches' lock: a stall alert and the withdrawal a batch derives for it must
        # reach the topic in the order they were derived
        async with self._load_lock:
            await self._send_alerts(self.core.tick(now))
        self.metrics.stalled_cases.set(self.core.stalled_cases(now))
        self.metrics.set_swiftness(self.core.swiftness())

    async def _measure_lag(self) -> None:
        consumer = self.app.consumer
        thread = getattr(consumer, "_thread", None)
        kafka = thread._ensure_consumer() if thread is not None else None
        for tp in consumer.assignment():
            if tp.topic not in SOURCE_TOPICS or kafka is None:
                continue
            end = kafka.last_stable_offset(KafkaTopicPartition(tp.topic, tp.partition))
            position = await kafka.position(KafkaTopicPartition(tp.topic, tp.partition))
            if end is not None:
                self.metrics.lag(tp.topic, tp.partition, max(0, end - position))


async def read_to_end(bootstrap: str, topic: str, partitions: frozenset[int] | None = None,
                      security: KafkaSecurity = PLAINTEXT) -> list[Any]:
    """Every committed record of `topic` (of its `partitions`, or all) from its start to its current
    end (no consumer group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                                enable_auto_commit=False, **security.aiokafka())
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [KafkaTopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
               if partitions is None or p in partitions]
        if not tps:
            raise RuntimeError(f"topic {topic!r} does not exist: create the topics first")
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Any] = []
        while True:
            behind = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
            if not behind:
                return out
            for batch in (await consumer.getmany(*behind, timeout_ms=1000)).values():
                out.extend(batch)
    finally:
        await consumer.stop()


class PublishingService(Service):
    """Leaves the publishers' group when the worker stops, so that the others take over its
    partitions at once rather than after a session timeout."""

    def __init__(self, processor: Processor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.processor = processor

    async def on_stop(self) -> None:
        await self.processor.leave_publishers()


class HttpService(Service):
    """/healthz (alive), /readyz (ledger loaded) and /metrics, served from the worker's loop from
    the moment it starts, recovery included."""

    def __init__(self, processor: Processor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.processor = processor
        self._runner: Any = None

    async def on_start(self) -> None:
        from aiohttp import web

        async def healthz(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        async def readyz(_: web.Request) -> web.Response:
            ready = self.processor.is_ready()
            return web.json_response({"status": "ready" if ready else "recovering"},
                                     status=200 if ready else 503)

        async def metrics(_: web.Request) -> web.Response:
            body, content_type = self.processor.metrics.exposition()
            return web.Response(body=body, headers={"Content-Type": content_type})

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        app.router.add_get("/metrics", metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        settings = self.processor.settings
        await web.TCPSite(self._runner, settings.host, settings.port).start()

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
