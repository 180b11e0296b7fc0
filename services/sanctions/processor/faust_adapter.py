"""Everything the processor needs of faust-streaming beyond its public API, in one place.

faust's public API (apps, tables, agents, timers, settings such as `consumer_group_instance_id`)
does most of the job. Three things it does not do, and correctness needs, are done here by
overriding faust's internals; the version they were written against is pinned (`FAUST_VERSION`,
and in pyproject.toml), and `tests/unit/test_processor_faust_adapter.py` fails if the private names
used here change or disappear:

* **Bulk handling** (`_Consumer._drain_messages`): the source topics' records go to the app's
  `BulkHandler` a fetch at a time. faust would make an event of each record and pass it through a
  queue, a stream and a pair of tasks: several times what the rules cost. A fetched record is never
  dropped (faust's `getmany` skips the records of a partition paused while it iterates), and the
  offsets between two records (transaction markers, aborted records) are recorded as a gap, so that
  commits move past them: exactly those offsets, not the record's own.
* **A commit barrier** (`_Consumer._commit_offsets`): offsets are committed only once everything
  written for the events before them is acknowledged by the broker; faust's own flush gives up after
  0.1 s without progress.
* **read_committed** (`_ReadCommittedConsumerThread`): faust reads committed records only under
  exactly-once processing; the intake writes in transactions, so an at-least-once worker must too.

Plus helpers that reach one private attribute each: the producer behind faust's `Producer`
(`kafka_producer`, to send record batches and to keep its metadata whole), the consumer behind
faust's consumer thread (`source_lag`: its last stable offsets, which faust does not expose) and the
table's "current event" (`current_message`, to choose a changelog partition).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from time import monotonic
from typing import Any, Protocol, cast

import faust
from aiokafka import TopicPartition as KafkaTopicPartition
from faust.streams import _current_event
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, EventT, Message

__all__ = [
    "FAUST_VERSION",
    "BulkApp",
    "BulkHandler",
    "FactTable",
    "broker_answers",
    "changelog_topic_name",
    "current_message",
    "gap_between",
    "kafka_producer",
    "keep_metadata_for",
    "source_lag",
]

FAUST_VERSION = "0.15.3"
FETCH_MAX_WAIT_MS = 100


class BulkHandler(Protocol):
    """What the worker gives the consumer: a batch at a time, and the commit's two edges."""

    bulk_topics: frozenset[str]

    async def take_records(self, messages: Sequence[Message]) -> bool:
        """Handle the records of one fetch, in order; False if they were not taken (they are then
        not acknowledged, and are read again after the next rebalance)."""

    def fetching(self) -> None:
        """The consumer asks for its next fetch: the records of every earlier one were handled."""

    async def before_commit(self) -> None:
        """Wait until every output written so far is acknowledged."""

    def committed(self, offsets: Mapping[TP, int]) -> None:
        """The consumer group now holds these offsets (the next record to read)."""


def gap_between(read: int | None, offset: int) -> tuple[int, int] | None:
    """The offsets strictly between the last record read and the next one (both inclusive), which
    no record will acknowledge; None if there are none, or nothing has been read."""
    if read is None or offset - read <= 1:
        return None
    return read + 1, offset - 1


def changelog_topic_name(app_id: str, table: str) -> str:
    """The name faust gives a table's changelog topic."""
    return f"{app_id}-{table}-changelog"


class _ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust's consumer, reading `read_committed` and waiting at most 100 ms in a fetch (faust waits
    up to 1.5 s, and a transaction's commit marker does not end that wait)."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands both to its fetcher on start()
        consumer._isolation_level = "read_committed"
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    @property
    def handler(self) -> BulkHandler:
        return cast(BulkApp, self.app).handler

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        await self.handler.before_commit()
        done = bool(await super()._commit_offsets(offsets, start_new_transaction=start_new_transaction))
        if done:
            self.handler.committed(offsets)
        return done

    async def _drain_messages(self, fetcher: Any) -> None:
        """faust's fetch loop, each fetch's source records handed over in one call (see the module).
        A fetch is handled whole, unless the flow stops or a rebalance starts: the rest is then read
        again from the committed offsets (faust seeks to them before it resumes the flow)."""
        consumer_should_stop, fetcher_should_stop = self._stopped.is_set, fetcher._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                self.handler.fetching()
                records, _ = await self._wait_next_records(1.0)
                if not records or self.should_stop:
                    continue
                if not self.flow_active:
                    await self.perform_seek()  # as faust's getmany: these are read again
                    continue
                await self._handle_fetch(records)
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

    async def _handle_fetch(self, records: Any) -> None:
        app, handler = cast(BulkApp, self.app), self.handler
        generation = app.consumer_generation_id
        read_offsets, acks_enabled_for = self._read_offset, app.topics.acks_enabled_for
        batch: list[Message] = []
        for tp, record in self.scheduler.iterate(records):
            if not self.flow_active or app.consumer_generation_id != generation:
                break  # faust seeks to the committed offsets before the flow resumes
            offset, read = record.offset, read_offsets[tp]
            if read is not None and offset < read:
                continue  # a fetch that raced a seek
            gap = gap_between(read, offset)
            if gap is not None and acks_enabled_for(tp.topic):
                await self._add_gap(tp, *gap)
            message = self._to_message(tp, record)
            if tp.topic in handler.bulk_topics:
                batch.append(message)
            else:
                await self.wait_first(self.callback(message), self.suspend_flow.wait())
            read_offsets[tp] = offset
        if not batch:
            return
        if not await handler.take_records(batch):
            await self._wait_for_rebalance(generation)
            return
        inbound, now = app.monitor.stream_inbound_time, monotonic()
        for taken in batch:
            self.ack(taken)
            inbound[taken.tp] = now  # faust's "stream has not started processing" check reads it
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()

    async def _wait_for_rebalance(self, generation: int) -> None:
        app = cast(BulkApp, self.app)
        # faust sets the generation in its consumer thread, with nothing to await
        while app.consumer_generation_id == generation and not self.should_stop:  # noqa: ASYNC110
            await asyncio.sleep(0.2)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class BulkApp(faust.App):
    """A faust app whose consumer hands the `handler`'s topics to it in bulk."""

    handler: BulkHandler

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)


class FactTable(faust.Table[bytes, bytes]):
    """A table whose changelog writes go to `on_send` (the worker's unacknowledged sends, which a
    commit awaits: an offset committed while its fact still sat in faust's buffer would lose it)."""

    on_send: Callable[[Awaitable[Any]], None]

    def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
        future = super().send_changelog(*args, **kwargs)
        self.on_send(future)
        return future


class _At:
    """What faust's table reads of its "current event" to choose a changelog partition."""

    __slots__ = ("__weakref__", "message")

    def __init__(self, message: Message) -> None:
        self.message = message


@contextmanager
def current_message(message: Message) -> Iterator[None]:
    """Within it, the table's changelog writes go to `message`'s partition (faust holds its "current
    event" by a weak reference: it lives as long as this block)."""
    at = _At(message)
    _current_event.set(weakref.ref(cast(EventT[Any], at)))
    yield
    del at


def kafka_producer(app: faust.App) -> Any:
    """The aiokafka producer behind faust's producer service (started)."""
    return app.producer._ensure_producer()  # type: ignore[attr-defined]


async def keep_metadata_for(client: Any, topics: Iterable[str]) -> None:
    """Make an aiokafka client's metadata always cover `topics`.

    aiokafka's client starts by fetching metadata for every topic, and narrows it to the topics it
    was told of as soon as it is told of one (a topic new to it: the fact table's changelog on a
    fresh broker). A record batch already queued for a topic outside that set then waits for a
    leader that no metadata update will bring, until faust's 20-minute request timeout: so every
    output topic is registered up front."""
    await asyncio.gather(*(client.add_topic(topic) for topic in topics))


async def broker_answers(app: faust.App) -> None:
    """Ask the broker for its metadata through the producer's connection (raises if it cannot)."""
    await kafka_producer(app).client.fetch_all_metadata()


async def source_lag(app: faust.App, topics: frozenset[str]) -> dict[TP, int]:
    """Records of each assigned partition of `topics` committed to the log and not yet read."""
    thread = getattr(app.consumer, "_thread", None)
    kafka = thread._ensure_consumer() if thread is not None else None
    lag: dict[TP, int] = {}
    if kafka is None:
        return lag
    for tp in app.consumer.assignment():
        if tp.topic in topics:
            at = KafkaTopicPartition(tp.topic, tp.partition)
            end = kafka.last_stable_offset(at)
            if end is not None:
                lag[tp] = max(0, end - await kafka.position(at))
    return lag
