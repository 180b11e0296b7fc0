"""Kafka adapters of the intake (aiokafka, on the service's event loop).

`KafkaPublisher` writes every accepted request inside a Kafka transaction, committing the
requests that arrive while the previous transaction commits together (group commit). A broker
spends about the same work on a transaction of one record as on one of fifty (the coordinator's
log writes and a commit marker per partition), so the publisher keeps few transactions open at
once (`concurrent`, default 1) and lets the requests that wait meanwhile form the next group: at
low load a request is committed at once, under load the groups grow with it. The transactions
rotate over `lanes` producers, least recently used first, so that a producer is not asked to begin
a transaction while the broker is still writing its previous commit's markers (the broker answers
that with CONCURRENT_TRANSACTIONS and aiokafka waits 20 ms before it retries). That gives the
intake's promise its shape:
* a batch is atomic: its records become visible to `read_committed` consumers together or never;
* a failure before the commit was asked for is aborted (the lane's successor producer, with the
  same transactional id, fences the old one), so nothing of that request becomes visible later;
* `acks=all` with an idempotent producer: an acknowledged record is on every in-sync replica.
The one ambiguity left is inherent: a commit asked for whose answer never came (the broker may
have written it, or complete it after a restart). Such a failure is answered 503 with a `settled`
future: the lane's successor producer is started (its InitProducerId waits until the broker has
finished the old transaction either way), then the receipt feed reads every partition of the
records' topics up to its high watermark of that moment. Until then the intake keeps those ids
undecided (503 to a retry); afterwards a retry gets the original receipt if the commit happened,
or is published anew if it did not: never two copies from one intake process (a retry that reaches
another replica meanwhile can still write one; docs/architecture.md says what consumers do then).

Every consumer of source topics must read with `isolation.level=read_committed`.

`ReceiptFeed` reads every source topic from the beginning into the ledger and keeps following them
(a `TopicFeed`: after a broken connection it resumes where it was): an intake refuses an id its
source already used at any intake. `ReceiptFeed.read_past_now` is the publisher's `settle`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.infra.feed import Batch, TopicFeed
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity
from services.intake.errors import BrokerUnavailable
from services.intake.ledger import Receipt, ReceiptLedger
from services.intake.publishing import OutgoingRecord, Placement, gate_refusal
from services.privacy.store import ClaimGate, KeyStoreUnavailable

__all__ = ["KafkaPublisher", "ReceiptFeed"]

log = logging.getLogger("gvi.intake.kafka")

_UNAVAILABLE = ("the event log (Kafka) did not acknowledge in time; retry later with the same id "
                "(if the event was recorded after all, the retry gets its original receipt)")
_MAX_RECORDS_PER_TRANSACTION = 5000
_GATHER_TURNS = 4


@dataclass
class _Pending:
    records: Sequence[OutgoingRecord]
    gate: ClaimGate | None = None
    done: asyncio.Future[list[Placement]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass
class _Attempt:
    """One transaction of a group; `committing` is set once the broker may have been asked to
    commit it (from then on a failure leaves its outcome in doubt)."""

    group: list[_Pending]
    committing: bool = False


class _Lane:
    """One transactional producer; a publisher commits on several lanes at once."""

    def __init__(self, bootstrap: str, client_id: str, transactional_id: str, timeout: float,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._client_id = client_id
        # A successor producer with the same transactional id (see `restart`) fences this one and
        # aborts whatever transaction it left open. Ids are new in every process: a crashed
        # process's open transaction is aborted by the broker after transaction.timeout.ms.
        self._transactional_id = transactional_id
        self._timeout = timeout
        self._producer: AIOKafkaProducer | None = None
        self._connecting = asyncio.Lock()

    async def producer(self) -> AIOKafkaProducer:
        async with self._connecting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap.split(","), client_id=self._client_id,
                    acks="all", enable_idempotence=True, transactional_id=self._transactional_id,
                    transaction_timeout_ms=max(1000, int(self._timeout * 1000)),
                    request_timeout_ms=max(1000, int(self._timeout * 1000)), linger_ms=0,
                    max_batch_size=1024 * 1024, max_request_size=8 * 1024 * 1024,
                    retry_backoff_ms=5, **self._security.aiokafka())
                try:
                    await asyncio.wait_for(producer.start(), self._timeout)
                except BaseException:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(producer.stop(), 2)
                    raise
                self._producer = producer
            return self._producer

    async def transaction(self, attempt: _Attempt) -> list[list[Placement]]:
        producer = await self.producer()
        await producer.begin_transaction()
        acks = [[await producer.send(r.topic, value=r.value, key=r.key.encode(), headers=list(r.headers))
                 for r in pending.records] for pending in attempt.group]
        # New persons' key claims, under way beside the transaction: it may commit only once every
        # claim its records were sealed with is known to be its person's; else it is aborted.
        try:
            await asyncio.gather(*(p.gate.passed() for p in attempt.group if p.gate is not None))
        except KeyStoreUnavailable:
            await producer.abort_transaction()
            raise
        attempt.committing = True
        await producer.commit_transaction()
        placed = []
        for request_acks in acks:
            metas = await asyncio.gather(*request_acks)
            placed.append([Placement(m.topic, m.partition, m.offset) for m in metas])
        return placed

    async def drop(self) -> None:
        """After a failed transaction: drop the producer without flushing it, so that none of its
        records can be delivered later, once the broker is back."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await _close_without_flush(producer)

    async def restart(self) -> None:
        """Start the dropped producer's successor with the same transactional id: it fences the old
        epoch and makes the coordinator abort whatever the old one had begun. If Kafka is down this
        happens on the lane's next use instead."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.producer(), 2)

    async def restarted(self) -> None:
        """Wait until the dropped producer's successor has started, retrying while Kafka is down.
        Its InitProducerId returns only once the coordinator has finished the old producer's last
        transaction (committed, if the commit had reached the broker; otherwise aborted)."""
        while True:
            try:
                await asyncio.wait_for(self.producer(), self._timeout)
                return
            except Exception:  # Kafka still down: try again
                await asyncio.sleep(0.5)

    async def discard(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 2)
            await _close_without_flush(producer)


async def _close_without_flush(producer: AIOKafkaProducer) -> None:
    """Stop a producer and drop its buffered records. `AIOKafkaProducer.stop()` first flushes, which
    would deliver a failed transaction's records once the broker is back; aiokafka has no public
    way to close without flushing, so this reaches into its sender and client, in this one place."""
    producer._closed = True
    task = producer._sender.sender_task if producer._sender is not None else None
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), 1)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(producer.client.close(), 1)


class KafkaPublisher:
    """Group commit: at most `concurrent` transactions at a time, on `lanes` transactional
    producers taken in turn; the requests that arrive meanwhile are committed together in the next
    transaction. `on_commit(requests, records)` is told the size of each committed group."""

    def __init__(self, bootstrap: str, *, timeout_seconds: float, client_id: str, lanes: int = 4,
                 concurrent: int = 1, on_commit: Callable[[int, int], None] | None = None,
                 settle: Callable[[Sequence[str]], Awaitable[None]] | None = None,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        instance = uuid.uuid4()
        self._bootstrap = bootstrap
        self._timeout = timeout_seconds
        self._lanes = [_Lane(bootstrap, client_id, f"{client_id}-{instance}-{i}", timeout_seconds, security)
                       for i in range(lanes)]
        self._queue: list[_Pending] = []
        self._wakeup = asyncio.Event()
        self._free: asyncio.Queue[_Lane] = asyncio.Queue()  # FIFO: the least recently used lane first
        self._slots = asyncio.Semaphore(max(1, min(concurrent, lanes)))
        self._on_commit = on_commit
        # Reads the given topics up to their end as it is now (`ReceiptFeed.read_past_now`); without
        # it, an in-doubt failure is settled once its outcome is decided, not once it is readable.
        self._settle = settle
        self._settling: set[asyncio.Future[None]] = set()
        self._committer: asyncio.Task[None] | None = None
        self._commits: set[asyncio.Task[None]] = set()
        self._probed_at = -1.0
        self._reachable = False

    async def start(self) -> None:
        """Start the committer; producers connect on first use, so the service starts (not
        ready) while Kafka is down."""
        for lane in self._lanes:
            self._free.put_nowait(lane)
        self._committer = asyncio.create_task(self._commit_loop(), name="kafka-group-commit")

    async def publish(self, records: Sequence[OutgoingRecord], *, atomic: bool,
                      gate: ClaimGate | None = None) -> list[Placement]:
        """`atomic` is always honoured: every request is written inside one transaction, committed
        only once `gate` (if any) has passed."""
        pending = _Pending(records, gate)
        self._queue.append(pending)
        self._wakeup.set()
        return await pending.done

    async def _commit_loop(self) -> None:
        while True:
            await self._slots.acquire()
            lane = await self._free.get()
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            await self._gather()
            group: list[_Pending] = []
            count = 0
            while self._queue and (not group or count + len(self._queue[0].records)
                                   <= _MAX_RECORDS_PER_TRANSACTION):
                pending = self._queue.pop(0)
                group.append(pending)
                count += len(pending.records)
            task = asyncio.create_task(self._commit(lane, group))
            self._commits.add(task)
            task.add_done_callback(self._commits.discard)

    async def _gather(self) -> None:
        """Let requests already on their way join the group: give the event loop a turn while the
        queue still grows (in a turn it reads the sockets that have data, in the next it runs the
        requests they started), a few turns at most. At low load this costs one turn, microseconds."""
        for _ in range(_GATHER_TURNS):
            waiting = len(self._queue)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            if len(self._queue) == waiting:
                return

    async def _commit(self, lane: _Lane, group: list[_Pending]) -> None:
        started = time.monotonic()
        attempt = _Attempt(group)
        try:
            placements = await asyncio.wait_for(lane.transaction(attempt), self._timeout)
        except KeyStoreUnavailable as exc:  # a claim of the group lost or unsettled: aborted, nothing visible
            log.info("transaction of %d request(s) aborted: a person key claim did not pass (%s)",
                     len(group), type(exc).__name__)
            for pending in group:
                if not pending.done.done():
                    pending.done.set_exception(gate_refusal(exc))
            return
        except Exception as exc:  # any failure: abort, answer 503, keep the lane usable
            log.warning("transaction of %d request(s) failed after %.1fs%s: %s", len(group),
                        time.monotonic() - started,
                        " while committing (outcome in doubt until settled)" if attempt.committing else "",
                        type(exc).__name__)
            self._probed_at = -1.0  # readiness must look again, not repeat an earlier "reachable"
            await lane.drop()  # before answering: no record of it may be sent after the answer
            settled = self._settled_later(lane, group) if attempt.committing else None
            for pending in group:
                if not pending.done.done():
                    pending.done.set_exception(BrokerUnavailable(_UNAVAILABLE, settled=settled))
            if settled is None:
                await lane.restart()
            return
        finally:
            self._free.put_nowait(lane)
            self._slots.release()
        if self._on_commit is not None:
            self._on_commit(len(group), sum(len(p.records) for p in group))
        for pending, placed in zip(group, placements, strict=True):
            if not pending.done.done():
                pending.done.set_result(placed)

    def _settled_later(self, lane: _Lane, group: list[_Pending]) -> asyncio.Future[None]:
        """A future that completes once the failed commit of `group` on `lane` is decided and, if it
        happened, readable by the receipt feed."""
        topics = sorted({r.topic for pending in group for r in pending.records})

        async def settle() -> None:
            started = time.monotonic()
            await lane.restarted()
            if self._settle is not None:
                await self._settle(topics)
            log.info("an in-doubt transaction of %d request(s) was settled after %.1fs", len(group),
                     time.monotonic() - started)

        task = asyncio.ensure_future(settle())
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)
        return task

    async def is_reachable(self) -> bool:
        """Whether the cluster answers a metadata request now (readiness; at most one probe a second)."""
        now = time.monotonic()
        if now - self._probed_at < 1.0:
            return self._reachable
        self._probed_at = now
        try:
            # A fresh TCP connection first: the producer's own connections and metadata can be
            # cached, so they alone do not show that a broker answers now.
            await asyncio.wait_for(self._tcp_reachable(), 2)
            producer = await self._lanes[0].producer()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 2)
            self._reachable = True
        except (KafkaError, TimeoutError, OSError):
            self._reachable = False
        return self._reachable

    async def _tcp_reachable(self) -> None:
        errors: list[OSError] = []
        for address in self._bootstrap.split(","):
            host, _, port = address.strip().rpartition(":")
            try:
                _, writer = await asyncio.open_connection(host.strip("[]"), int(port))
            except OSError as exc:
                errors.append(exc)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        raise errors[0] if errors else OSError("no bootstrap address")

    async def close(self) -> None:
        tasks = [t for t in (self._committer, *self._commits, *self._settling) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pending in self._queue:
            if not pending.done.done():
                pending.done.set_exception(BrokerUnavailable("the service is shutting down; retry"))
        for lane in self._lanes:
            await lane.discard()


class ReceiptFeed:
    """Replays `topics` (every source topic) into the ledger and follows them (a `TopicFeed`); `caught_up`
    is set once every partition has been read to the end it had when the feed first connected."""

    def __init__(self, bootstrap: str, topics: Sequence[str], ledger: ReceiptLedger, *, client_id: str,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._ledger = ledger
        self._feed = TopicFeed(bootstrap, topics, self._deliver, client_id=f"{client_id}-ledger",
                               security=security, name="receipt feed", on_caught_up=self._loaded)
        self.caught_up = self._feed.caught_up

    def start(self) -> None:
        self._feed.start()

    async def stop(self) -> None:
        await self._feed.stop()

    async def read_past_now(self, topics: Sequence[str]) -> None:
        """Wait until the ledger holds every record committed in `topics` up to now: the feed has
        passed each partition's high watermark of this moment, so every transaction below it is decided."""
        await self._feed.read_past_now(topics)

    def _deliver(self, batch: Batch) -> None:
        self._ledger.add(r for records in batch.values() for record in records
                         if (r := _receipt(record)) is not None)

    def _loaded(self) -> None:
        log.info("receipt ledger loaded: %d events", len(self._ledger))


def _receipt(record: Any) -> Receipt | None:
    try:
        event = json.loads(record.value)
        headers = dict(record.headers or [])
        return Receipt(
            id=event["id"], source=event["source"], type=event["type"], topic=record.topic,
            partition=record.partition, offset=record.offset, recordedtime=event["recordedtime"],
            key=record.key.decode(), digest=headers["gvi-content-digest"].decode())
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("skipping a record without a receipt at %s/%d/%d",
                    record.topic, record.partition, record.offset)
        return None

