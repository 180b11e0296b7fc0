"""One session of the checkpointer's chains, on an event loop (the chain thread's).

A `ChainSession` follows every chained topic with a `TopicFeed`, each partition from just after its
last signed checkpoint, feeds the committed records to a `ChainKeeper` and publishes the checkpoints
owed to the checkpoint topic with an idempotent producer (acks=all). While an owed checkpoint cannot
be published the feed is held: no further record is chained until it is out. Partitions added to a
topic (or a topic created late) are picked up every `REFRESH_PARTITIONS_S` seconds.

A session runs until the checkpointer stops it, or until an error it cannot ride out (the feed
itself reconnects after a broken connection); the checkpointer then begins a new session from the
last checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.audit.checkpointer.keeper import ChainKeeper
from services.audit.checkpointer.metrics import CheckpointerMetrics
from services.audit.checkpointer.settings import CheckpointerSettings
from services.audit.library import Checkpoint, checkpoint_key
from services.infra.feed import Batch, TopicFeed, TopicPartition

__all__ = ["PROBE_EVERY_S", "REFRESH_PARTITIONS_S", "ChainSession"]

log = logging.getLogger("gvi.audit.checkpointer")

CLIENT_ID = "gvi-audit-checkpointer"
PROBE_EVERY_S = 5.0
"""How often the broker is asked whether it answers (the checkpointer's readiness)."""
REFRESH_PARTITIONS_S = 10.0
"""How often the chained topics' partitions are listed again, to chain new ones."""
SEND_TIMEOUT_S = 10.0
RETRY_PUBLISH_S = 1.0
_TICK_S = 0.2


class ChainSession:
    """Chains the records of `settings.chained_topics` from the checkpoints `resume` names and
    publishes the checkpoints `keeper` says are owed (`run`). `on_contact` is called whenever the
    broker answered; `on_caught_up` once every partition is chained to the end it had at the start."""

    def __init__(self, settings: CheckpointerSettings, keeper: ChainKeeper,
                 resume: Callable[[str, int], Checkpoint | None], metrics: CheckpointerMetrics,
                 clock: Callable[[], datetime], *, on_contact: Callable[[], None],
                 on_caught_up: Callable[[], None]) -> None:
        self._settings = settings
        self._keeper = keeper
        self._resume = resume
        self._metrics = metrics
        self._clock = clock
        self._on_contact = on_contact
        self._on_caught_up = on_caught_up
        self._started = 0
        self._retry_at = 0.0
        self._publishing = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._producer: AIOKafkaProducer | None = None

    @property
    def connected(self) -> bool:
        """True while the session's producer is started (`send_threadsafe` may be used)."""
        return self._producer is not None

    async def run(self, stop: threading.Event) -> None:
        """Chain and publish until `stop` is set; raises what broke the session."""
        settings = self._settings
        security = settings.kafka_security()
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers.split(","),
                                    client_id=CLIENT_ID, acks="all", enable_idempotence=True, linger_ms=5,
                                    max_request_size=4 * 1024 * 1024, **security.aiokafka())
        feed = TopicFeed(settings.kafka_bootstrap_servers, settings.chained_topics, self.deliver,
                         client_id=CLIENT_ID, security=security, name="audit chains", max_records=5000,
                         start_at=self.start_at, missing_ok=True, refresh_seconds=REFRESH_PARTITIONS_S,
                         probe_seconds=PROBE_EVERY_S, on_contact=self._on_contact,
                         on_caught_up=self._caught_up)
        try:
            await asyncio.wait_for(producer.start(), SEND_TIMEOUT_S)
            self._loop, self._producer = asyncio.get_running_loop(), producer
            feed.start()
            while not stop.is_set() and feed.running:
                await self._publish_owed()  # checkpoints owed by time, while records are few
                await asyncio.sleep(_TICK_S)
        finally:
            try:
                await feed.stop()  # raises what ended the feed, if anything did
            finally:
                self._producer = None
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), 5)

    def start_at(self, tp: TopicPartition) -> int:
        """Where to begin chaining a partition: just after its last checkpoint, or at its start."""
        checkpoint = self._resume(tp.topic, tp.partition)
        offset = self._keeper.start(tp.topic, tp.partition, checkpoint)
        self._started += 1
        log.info("%s/%d: chaining from offset %d (%s)", tp.topic, tp.partition, offset,
                 "resumed from its last checkpoint" if checkpoint else "from the start")
        return offset

    async def deliver(self, batch: Batch) -> None:
        """Chain a fetch, once every checkpoint owed is out (the feed waits meanwhile: back-pressure)."""
        await self._until_published()
        for records in batch.values():
            for record in records:
                if self._keeper.add(record, time.monotonic()):
                    await self._publish_owed()
            self._metrics.records.labels(records[0].topic).inc(len(records))

    def send_threadsafe(self, key: bytes, value: bytes) -> None:
        """Publish one record to the checkpoint topic from another thread (the verification's), with
        this session's producer; raises `KafkaError` or `TimeoutError` if it could not."""
        loop, producer = self._loop, self._producer
        if loop is None or producer is None:
            raise KafkaError("the chains are not connected to Kafka")
        sent = asyncio.run_coroutine_threadsafe(
            producer.send_and_wait(self._settings.checkpoint_topic, value, key=key), loop)
        try:
            sent.result(timeout=SEND_TIMEOUT_S)
        except TimeoutError:
            sent.cancel()
            raise

    def _caught_up(self) -> None:
        log.info("caught up with %d partitions; checkpoints follow the log now", self._started)
        self._on_caught_up()

    async def _until_published(self) -> None:
        """Return once no checkpoint is owed: while Kafka refuses them, no new records are chained."""
        while True:
            if await self._publish_owed():
                return
            await asyncio.sleep(_TICK_S)

    async def _publish_owed(self) -> bool:
        """Publish every checkpoint owed now, in turn; False if Kafka refused one (then nothing is
        tried again for `RETRY_PUBLISH_S`)."""
        async with self._publishing:
            if time.monotonic() < self._retry_at:
                return False
            for topic, partition in self._keeper.owing(time.monotonic()):
                if not await self._publish((topic, partition)):
                    self._retry_at = time.monotonic() + RETRY_PUBLISH_S
                    return False
            return True

    async def _publish(self, partition: tuple[str, int]) -> bool:
        topic, number = partition
        producer = self._producer
        if producer is None:  # the session is ending
            return False
        checkpoint = self._keeper.checkpoint(partition, self._clock())
        try:
            await asyncio.wait_for(producer.send_and_wait(
                self._settings.checkpoint_topic, checkpoint.to_json(), key=checkpoint_key(topic, number)),
                SEND_TIMEOUT_S)
        except (KafkaError, TimeoutError) as exc:
            log.warning("could not publish the checkpoint of %s/%d (%s); retrying", topic, number,
                        type(exc).__name__)
            return False
        self._keeper.published(checkpoint)
        self._metrics.checkpoints.labels(topic).inc()
        self._metrics.last_checkpoint.set(checkpoint.time.timestamp())
        return True
