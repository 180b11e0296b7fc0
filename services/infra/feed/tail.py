"""`TopicFeed`: topics read from their beginning to their end, then followed, as a task on the
event loop."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.infra.feed.reads import FEED_ERRORS, end_offsets, partitions_of, reading_consumer
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity

__all__ = ["Batch", "TopicFeed"]

log = logging.getLogger("gvi.infra.feed")

Batch = Mapping[TopicPartition, list[Any]]
"""One fetch: each partition's records (aiokafka `ConsumerRecord`s), in offset order."""

RETRY_SECONDS = 1.0
"""A feed's pause before it connects again."""


class TopicFeed:
    """Follows `topics` from their beginning, handing each fetch to `deliver` (on the event loop, in
    offset order per partition), as a task (`start`, `stop`).

    * `caught_up` is set once every partition has been read to the end it had when the feed first
      connected (then `on_caught_up` is called, once).
    * A broken connection is logged, and the feed connects again and resumes where it was: nothing
      is delivered twice. `on_tick` is called after every fetch and every broken connection.
    * With `probe_seconds`, the feed asks the broker for the end offsets that often and calls
      `on_contact` on each answer (and on each connection): a fetch that returns nothing says
      nothing, since aiokafka returns nothing while the broker is gone too. The probe runs beside
      the fetches, so it goes on while an async `deliver` holds the feed.
    * `deliver` may be async: the feed awaits it before it fetches again (back-pressure: a caller
      that must first write something out holds the feed until it has).
    * `start_at(partition)` says where to begin a partition the feed has not read before: an offset,
      or None for its beginning (the default). It is asked once per partition.
    * With `refresh_seconds`, the feed lists its topics' partitions that often and begins reading
      the new ones (a topic given more partitions, or created late with `missing_ok`); before the
      feed is caught up, their ends count for `caught_up` too.
    * With `missing_ok`, a topic that does not exist has no partitions (yet) instead of being an
      error the feed retries.
    * If `deliver` raises anything but a broken connection, the feed ends: `running` turns False
      and `stop` raises the error.
    """

    def __init__(self, bootstrap: str, topics: Sequence[str],
                 deliver: Callable[[Batch], Awaitable[None] | None], *,
                 client_id: str, security: KafkaSecurity = PLAINTEXT, name: str = "feed",
                 max_records: int = 5000, loading_max_records: int | None = None,
                 on_caught_up: Callable[[], None] = lambda: None, on_tick: Callable[[], None] = lambda: None,
                 on_contact: Callable[[], None] = lambda: None, probe_seconds: float | None = None,
                 start_at: Callable[[TopicPartition], int | None] = lambda tp: None,
                 refresh_seconds: float | None = None, missing_ok: bool = False,
                 **options: Any) -> None:
        self.caught_up = asyncio.Event()
        self._bootstrap = bootstrap
        self._topics = tuple(topics)
        self._deliver = deliver
        self._client_id = client_id
        self._security = security
        self._name = name
        self._max_records = max_records
        self._loading_max_records = loading_max_records or max_records
        self._on_caught_up = on_caught_up
        self._on_tick = on_tick
        self._on_contact = on_contact
        self._probe_seconds = probe_seconds
        self._start_at = start_at
        self._refresh_seconds = refresh_seconds
        self._missing_ok = missing_ok
        self._options = options
        self._positions: dict[TopicPartition, int] = {}
        self._starts: dict[TopicPartition, int | None] = {}
        self._moved = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def positions(self) -> Mapping[TopicPartition, int]:
        """The next offset the feed reads in each partition it reads (control records included)."""
        return self._positions

    @property
    def running(self) -> bool:
        """True from `start` until `stop`, or until `deliver` raised (see the class docstring)."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_for_positions(self, targets: Mapping[TopicPartition, int]) -> None:
        """Wait until the feed has read up to `targets` in each of their partitions that it reads
        (a partition added since it connected is read only after its next restart or refresh)."""
        while True:
            known = self._positions  # empty until the feed has connected
            if known and all(known[tp] >= end for tp, end in targets.items() if tp in known):
                return
            self._moved.clear()
            await self._moved.wait()

    async def read_past_now(self, topics: Sequence[str] | None = None) -> None:
        """Wait until every record committed up to this moment has been delivered: the feed has
        passed each partition's high watermark of now, so every transaction below it is decided.
        With `topics` (some of the feed's), only theirs: a transaction still open in another topic
        the feed reads does not hold the wait up."""
        names = tuple(topics) if topics is not None else self._topics
        while True:
            try:
                targets = await end_offsets(self._bootstrap, names, security=self._security,
                                            client_id=f"{self._client_id}-end")
                break
            except FEED_ERRORS as exc:
                log.warning("cannot read the end of %s (%s); retrying", ", ".join(names),
                            type(exc).__name__)
                await asyncio.sleep(RETRY_SECONDS)
        await self.wait_for_positions(targets)

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except FEED_ERRORS as exc:
                log.warning("%s interrupted (%s); resuming", self._name, type(exc).__name__)
                self._on_tick()
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:  # deliver failed: said at once, not when the task is collected
                log.exception("%s stopped: delivering its records failed", self._name)
                raise

    async def _follow(self) -> None:
        consumer = reading_consumer(self._bootstrap, client_id=self._client_id, security=self._security,
                                    **self._options)
        prober: asyncio.Task[None] | None = None
        try:
            await asyncio.wait_for(consumer.start(), 10)
            assigned: list[TopicPartition] = []
            found = await partitions_of(consumer, self._topics, missing_ok=self._missing_ok)
            loaded_at = await self._assign(consumer, assigned, found)
            self._on_contact()
            if self._probe_seconds is not None:
                prober = asyncio.create_task(self._probe(consumer, assigned, self._probe_seconds),
                                             name=f"{self._name}-probe")
            refresh, refreshed = self._refresh_seconds, time.monotonic()
            while True:
                if refresh is not None and time.monotonic() - refreshed >= refresh:
                    refreshed = time.monotonic()
                    # a refresh looks for new partitions: a topic missing now simply has none
                    listed = await partitions_of(consumer, self._topics, missing_ok=True)
                    added = await self._assign(consumer, assigned, listed)
                    if not self.caught_up.is_set():
                        loaded_at.update(added)
                await self._fetch(consumer, assigned)
                self._on_tick()
                if not self.caught_up.is_set() and all(
                        self._positions[tp] >= end for tp, end in loaded_at.items()):
                    self._on_caught_up()
                    self.caught_up.set()
        finally:
            if prober is not None:
                prober.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await prober
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 5)

    async def _assign(self, consumer: AIOKafkaConsumer, assigned: list[TopicPartition],
                      found: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Add the partitions of `found` not in `assigned` to both, each from where the feed was in
        it (or `start_at`); returns the end offsets of those added."""
        added = [tp for tp in found if tp not in assigned]
        if not added:
            return {}
        where = {tp: await consumer.position(tp) for tp in assigned}  # `assign` forgets positions
        assigned += added
        consumer.assign(list(assigned))
        for tp in assigned:
            offset = where.get(tp, self._positions.get(tp))  # where it was, on this connection or before
            if offset is None:
                if tp not in self._starts:
                    self._starts[tp] = self._start_at(tp)
                offset = self._starts[tp]
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(added)
        return ends

    async def _fetch(self, consumer: AIOKafkaConsumer, assigned: list[TopicPartition]) -> None:
        """One fetch, delivered (and awaited, if `deliver` is async); then the positions move."""
        size = self._max_records if self.caught_up.is_set() else self._loading_max_records
        if not assigned:  # every topic is missing: nothing to read until a refresh finds some
            await asyncio.sleep(0.2)
            return
        batch = await consumer.getmany(timeout_ms=200, max_records=size)
        if batch:
            delivered = self._deliver(batch)
            if inspect.isawaitable(delivered):
                await delivered
        self._positions = {tp: await consumer.position(tp) for tp in assigned}
        self._moved.set()

    async def _probe(self, consumer: AIOKafkaConsumer, assigned: list[TopicPartition],
                     every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                asked = (consumer.end_offsets(list(assigned)) if assigned
                         else partitions_of(consumer, self._topics, missing_ok=True))
                await asyncio.wait_for(asked, 5)
            except FEED_ERRORS as exc:
                log.debug("the broker did not answer %s's probe (%s)", self._name, type(exc).__name__)
            else:
                self._on_contact()

