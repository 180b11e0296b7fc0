"""Reading topics read-only for synchronous callers: `assign` + `seek`, no consumer group, no commits,
`read_committed`.

`LogReader` reads a set of partitions from given offsets (default: the beginning) to the end they
had when the read began, so that a run sees one consistent cut of a log that keeps growing. It reads
with aiokafka through `services.infra.feed.read_to_end`, the one way the services read Kafka, for
callers that are not asyncio: the `gvi-audit` CLI, the checkpointer's threads, the dashboard's worker
threads. Each reader owns a private event loop that runs only inside the reader's own calls (one
batch at a time), so a reader works from whichever thread calls it, one thread at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer

from services.audit.library.errors import BrokerUnreachable, NotFound
from services.infra.feed import (
    FEED_ERRORS,
    ReadStalled,
    TopicPartition,
    partitions_of,
    read_to_end,
    reading_consumer,
)
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity

__all__ = ["LogReader", "Progress", "TopicPartition", "quiet_client_logs", "read_failure"]

log = logging.getLogger("gvi.audit.kafka")

T = TypeVar("T")

Progress = Callable[[int, int], None]
"""Called with (offsets read, offsets to read) as a read goes on."""

_FETCH_OPTIONS: dict[str, Any] = {"fetch_max_bytes": 64 * 1024 * 1024,
                                  "max_partition_fetch_bytes": 16 * 1024 * 1024,
                                  "max_poll_records": 20_000, "check_crcs": False}
"""A reader's fetches: large, since one process reads the whole log; the CRCs are left to the broker."""


def quiet_client_logs() -> None:
    """Keep aiokafka's own log lines (a refused connection is logged before it is raised) off the
    stderr of a process that configures no logging, such as `gvi-audit`: its errors reach the caller
    as exceptions and are reported once. Logging a process configures still receives them."""
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())


def read_failure(bootstrap: str, exc: BaseException, *, started: bool) -> BrokerUnreachable:
    """The error for a read that failed: before it `started` the broker was not reached at all."""
    if isinstance(exc, ReadStalled):
        return BrokerUnreachable(str(exc))  # "Kafka at ... stopped answering while reading ..."
    if not started:
        return BrokerUnreachable(f"no Kafka broker reachable at {bootstrap} ({type(exc).__name__})")
    return BrokerUnreachable(f"Kafka at {bootstrap} failed while reading ({type(exc).__name__})")


class LogReader:
    """Partitions, end offsets and reads of the broker at `bootstrap`, for a synchronous caller.
    Close it (or use it as a context manager): that stops its consumers and closes its loop."""

    def __init__(self, bootstrap: str, *, client_id: str = "gvi-audit", timeout_s: float = 10.0,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._timeout_s = timeout_s
        self._security = security
        self._request_timeout_ms = max(int(timeout_s * 1000), 5000) + 1000
        self._loop = asyncio.new_event_loop()
        self._metadata: AIOKafkaConsumer | None = None  # for partitions and end offsets, started on first use

    @property
    def bootstrap(self) -> str:
        return self._bootstrap

    def __enter__(self) -> LogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the reader's consumers (a read left unfinished included) and close its loop."""
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self._shutdown())
        except Exception:  # closing a client whose broker is gone must not hide the first error
            log.debug("error while closing the reader's consumers", exc_info=True)
        finally:
            self._loop.close()

    async def _shutdown(self) -> None:
        await self._loop.shutdown_asyncgens()  # a read the caller did not finish stops its consumer
        if self._metadata is not None:
            await asyncio.wait_for(self._metadata.stop(), 5)

    def _unreachable(self, exc: BaseException) -> BrokerUnreachable:
        return BrokerUnreachable(f"Kafka at {self._bootstrap} did not answer ({type(exc).__name__})")

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        try:
            return self._loop.run_until_complete(work)
        except FEED_ERRORS as exc:
            raise self._unreachable(exc) from exc

    async def _consumer(self) -> AIOKafkaConsumer:
        """The reader's consumer for metadata: `read_committed`, so its end offsets are last stable
        offsets (a read stops where an open transaction begins)."""
        if self._metadata is None:
            consumer = reading_consumer(self._bootstrap, client_id=self._client_id, security=self._security,
                                        request_timeout_ms=self._request_timeout_ms)
            try:
                await asyncio.wait_for(consumer.start(), self._timeout_s)
            except FEED_ERRORS as exc:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(consumer.stop(), 2)
                raise BrokerUnreachable(f"no Kafka broker reachable at {self._bootstrap} "
                                        f"({type(exc).__name__})") from exc
            self._metadata = consumer
        return self._metadata

    def partitions(self, topic: str, *, missing_ok: bool = False) -> list[TopicPartition]:
        found = self._run(self._partitions(topic))
        if not found and not missing_ok:
            raise NotFound(f"topic {topic!r} does not exist on the broker at {self._bootstrap}")
        return found

    async def _partitions(self, topic: str) -> list[TopicPartition]:
        consumer = await self._consumer()
        return await asyncio.wait_for(partitions_of(consumer, [topic], missing_ok=True), self._timeout_s)

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        if not partitions:
            return {}
        return self._run(self._end_offsets(partitions))

    async def _end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        consumer = await self._consumer()
        ends = await asyncio.wait_for(consumer.end_offsets(list(partitions)), self._timeout_s)
        return dict(ends)

    def read(self, partitions: Sequence[TopicPartition], start: Mapping[TopicPartition, int] | None = None,
             *, progress: Progress | None = None,
             ends: Mapping[TopicPartition, int] | None = None) -> Iterator[list[Any]]:
        """Batches of records (aiokafka `ConsumerRecord`s, one partition per batch, in offset order)
        from `start` (default: the beginning) up to `ends` (default: each partition's end at the
        time of the call). A caller that stops early closes the read's consumer by closing (or
        dropping) this iterator, or by closing the reader."""
        if not partitions:
            return
        ends = dict(ends) if ends is not None else self.end_offsets(partitions)
        began: list[int] = []
        batches = read_to_end(self._bootstrap, list(partitions), client_id=self._client_id,
                              security=self._security, start=start, ends=ends, started=began.append,
                              progress=progress,
                              request_timeout_ms=self._request_timeout_ms, **_FETCH_OPTIONS)
        try:
            while True:
                try:
                    _, records = self._loop.run_until_complete(_next(batches))
                except StopAsyncIteration:
                    return
                except FEED_ERRORS as exc:
                    raise read_failure(self._bootstrap, exc, started=bool(began)) from exc
                yield records
        finally:
            self._finish(batches)

    def _finish(self, batches: AsyncIterator[Any]) -> None:
        """Stop an unfinished read's consumer (nothing to do for a finished one)."""
        close = getattr(batches, "aclose", None)
        if close is None or self._loop.is_closed():
            return
        if self._loop.is_running():  # dropped while the loop runs: it closes there
            self._loop.create_task(close())
            return
        try:
            self._loop.run_until_complete(close())
        except Exception:  # as in `close`: the read's own error, if any, is the one to report
            log.debug("error while stopping a read's consumer", exc_info=True)

    def read_topics(self, topics: Sequence[str], *, progress: Progress | None = None,
                    missing_ok: bool = False) -> Iterator[list[Any]]:
        partitions = [tp for topic in topics for tp in self.partitions(topic, missing_ok=missing_ok)]
        yield from self.read(partitions, progress=progress)


async def _next(batches: AsyncIterator[T]) -> T:
    return await batches.__anext__()
