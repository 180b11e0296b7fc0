"""The faust-streaming edge of the processor: topics, the fact store, the consumer, the clock.

The worker reads the three source topics with `read_committed` under one faust agent (concurrency
1: faust-streaming issue 606 loses messages above 1), whose consumer hands each fetch's records to
`ProcessorCore` in bulk (see `faust_adapter`). It keeps the counting copy of every
event in the RocksDB-backed `facts` table (changelogged, so a lost disk is recovered from Kafka),
sends the outputs as record batches (`publishing`), and commits offsets only once all of that is
acknowledged (at-least-once, with outputs that are harmless to repeat). After table recovery, and
after any change of its partitions, the worker rebuilds its ledger from the table, and it corrects
the `group-state` partitions it gains (`recovery`). Its HTTP endpoints are in `service`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from aiokafka.errors import KafkaError
from faust.types import TP, Message, StreamT

from services.contracts import SOURCE_TOPIC_NAMES, canonical_json
from services.sanctions.processor.core import ProcessorCore, TopicPartition
from services.sanctions.processor.faust_adapter import (
    BulkApp,
    FactTable,
    broker_answers,
    changelog_topic_name,
    current_message,
    source_lag,
)
from services.sanctions.processor.health import Health
from services.sanctions.processor.heap import keep_out_of_collections
from services.sanctions.processor.metrics import ProcessorMetrics
from services.sanctions.processor.publishing import Publisher
from services.sanctions.processor.recovery import Recovery
from services.sanctions.processor.settings import ProcessorSettings

__all__ = ["FACTS_TABLE", "SOURCE_TOPICS", "Processor"]

log = logging.getLogger(__name__)

SOURCE_TOPICS: tuple[str, ...] = SOURCE_TOPIC_NAMES
FACTS_TABLE = "facts"
HEALTH_INTERVAL_S = 1.0
BATCH_MAX_EVENTS = 2000  # records per fetch, handled together
FACT_ENTRY_MAX_BYTES = 256 * 1024
PRODUCER_LINGER_MS = 5  # outputs of consecutive events share produce requests


def _broker_urls(bootstrap: str) -> list[str]:
    return [f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip()]


def _faust_app(settings: ProcessorSettings, partitions: int) -> BulkApp:
    return BulkApp(
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


class Processor:
    """The worker: a faust app around one `ProcessorCore`, and the app's `BulkHandler`. It sends
    through a `Publisher` and keeps its ledger loaded through a `Recovery`."""

    bulk_topics = frozenset(SOURCE_TOPICS)

    def __init__(self, settings: ProcessorSettings, partitions: int, metrics: ProcessorMetrics) -> None:
        self.settings = settings
        self.partitions = partitions
        self.metrics = metrics
        self.health = Health(max_pending=settings.max_pending_seconds,
                             broker_timeout=settings.broker_timeout_seconds,
                             liveness_bound=settings.liveness_seconds)
        self.app = _faust_app(settings, partitions)
        self.app.handler = self
        self.publisher = Publisher(self.app, partitions, self.health)
        self.facts = FactTable(self.app, name=FACTS_TABLE, key_type=bytes, value_type=bytes,
                               partitions=partitions, beacon=self.app.tables.beacon)
        self.facts.on_send = self.publisher.sent
        self.app.tables.add(self.facts)
        self.recovery = Recovery(self.app, self.facts, self.publisher, changelog_topic=self.changelog_topic,
                                 settings=settings, partitions=partitions, health=self.health,
                                 metrics=metrics)
        self.source = self.app.topic(*SOURCE_TOPICS, key_type=bytes, value_type=bytes,
                                     key_serializer="raw", value_serializer="raw")
        self.app.agent(self.source, name="process", concurrency=1)(self._subscribe)
        self.app.task(self.recovery.join_publishers)  # tasks start once table recovery is done
        self.app.timer(settings.stall_check_seconds, name="stall-check")(self._check_stalls)
        self.app.timer(HEALTH_INTERVAL_S, name="health")(self._check_health)

    @property
    def core(self) -> ProcessorCore:
        """The ledger, as last rebuilt (`Recovery.ensure_loaded`)."""
        return self.recovery.core

    @property
    def changelog_topic(self) -> str:
        return changelog_topic_name(self.settings.app_id, FACTS_TABLE)

    async def leave_publishers(self) -> None:
        await self.recovery.leave_publishers()

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
        recovery = self.recovery
        if not await recovery.ensure_loaded():
            return False
        # Until this worker knows its share of the publishing it could publish nothing, and every
        # record it derived would have to be reconciled from the ledger later: wait (once).
        await recovery.share_known.wait()
        async with recovery.ledger_lock:  # not while a gained partition is being reconciled
            await self._handle(messages)
        keep_out_of_collections()
        now, last = time.monotonic(), {}
        for message in messages:
            last[message.tp] = message.offset
        for tp, offset in last.items():
            self.health.handled(tp, offset + 1, now)
        return True

    def fetching(self) -> None:
        self.health.fetching()

    async def before_commit(self) -> None:
        await self.publisher.wait_acknowledged()

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
        await self.publisher.send_records(outputs.records)
        await self.publisher.send_alerts(outputs.alerts)
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

    # -- the clock ----------------------------------------------------------------------------------
    async def _check_stalls(self) -> None:
        recovery = self.recovery
        if not await recovery.ensure_loaded():
            return
        now = datetime.now(UTC)
        # Not before the worker has caught up: the events read again after a restart may have
        # sanctioned a case the ledger still has awaiting, and its stall alert, withdrawn before
        # the restart, would be raised again for a moment. Under the batches' lock: a stall alert
        # and the withdrawal a batch derives for it must reach the topic in the order derived, and
        # the core is not read while a reconciliation works on it beside the loop.
        async with recovery.ledger_lock:
            if self.health.caught_up:
                await self.publisher.send_alerts(self.core.tick(now))
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
