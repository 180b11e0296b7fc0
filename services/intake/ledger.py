"""Receipts of accepted events, the memory behind idempotency.

The ledger maps (`source`, `id`) to the receipt of the event accepted under that id, at whichever
intake accepted it: CloudEvents makes (`source`, `id`) unique per source, so one agency's id names
one event across all the source topics. It is a cache of the Kafka log, not a second source of
truth: at start-up the Kafka feed (`services.intake.kafka.ReceiptFeed`) reads every source topic
from the beginning into it, then keeps tailing them, so the ledger survives restarts and learns what
other replicas and the other intakes accepted.

Two records of one (`source`, `id`) can still reach the log when two intakes (or two replicas)
accept it within the feed's lag. The ledger then keeps the receipt recorded first, as the stream
processor counts that copy (`services.followthrough.preferred`), whatever order the feed
reads them in: a repeat is answered with, and a retraction follows, the copy that counts.

`claim` serialises concurrent requests for the same ids within one process, so that two identical
posts racing each other produce one record. `hold` keeps ids undecided while a failed publish of
them may still have been committed (the broker lost the connection after it was asked to commit):
until that is settled the intake cannot tell a retry from a second copy, so it answers 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Receipt", "ReceiptLedger"]


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where and when an event was durably recorded."""

    id: str
    source: str
    type: str
    topic: str
    partition: int
    offset: int
    recordedtime: str
    key: str
    digest: str

    def public(self) -> dict[str, object]:
        """The receipt as shown to the client (the digest and key stay internal)."""
        return {"id": self.id, "source": self.source, "type": self.type, "topic": self.topic,
                "partition": self.partition, "offset": self.offset, "recordedtime": self.recordedtime}


Key = tuple[str, str]


def _precedence(receipt: Receipt) -> tuple[str, str, int, int]:
    # The processor's order of copies: recordedtime as its datetime's isoformat, then log position.
    try:
        recorded = datetime.fromisoformat(receipt.recordedtime).isoformat()
    except ValueError:  # never written by an intake; ordered as text rather than stopping the feed
        recorded = receipt.recordedtime
    return (recorded, receipt.topic, receipt.partition, receipt.offset)


def _recorded_first(a: Receipt, b: Receipt) -> bool:
    return _precedence(a) < _precedence(b)


class ReceiptLedger:
    def __init__(self) -> None:
        self._receipts: dict[Key, Receipt] = {}
        self._inflight: dict[Key, asyncio.Future[None]] = {}
        self._undecided: dict[Key, asyncio.Future[None]] = {}

    def __len__(self) -> int:
        return len(self._receipts)

    def get(self, source: str, event_id: str) -> Receipt | None:
        return self._receipts.get((source, event_id))

    def add(self, receipts: Iterable[Receipt]) -> None:
        """Record receipts; of two receipts of one id the one recorded first is the event."""
        known = self._receipts
        for receipt in receipts:
            kept = known.setdefault((receipt.source, receipt.id), receipt)
            if kept is not receipt and _recorded_first(receipt, kept):
                known[(receipt.source, receipt.id)] = receipt

    def hold(self, keys: Iterable[Key], settled: asyncio.Future[None]) -> None:
        """Keep `keys` undecided until `settled` completes (by then any receipt of theirs is here)."""
        held = list(keys)
        for key in held:
            self._undecided[key] = settled

        def settle(done: asyncio.Future[None]) -> None:
            if not done.cancelled():
                done.exception()  # retrieved: a failed settlement only ends the hold
            for key in held:
                if self._undecided.get(key) is done:
                    del self._undecided[key]

        settled.add_done_callback(settle)

    def undecided(self, keys: Iterable[Key]) -> list[Key]:
        return [key for key in keys if key in self._undecided]

    async def claim(self, keys: Iterable[Key]) -> asyncio.Future[None]:
        """Wait until no other request in this process is deciding any of `keys`, then hold them
        until the returned future is released with `release`."""
        wanted = set(keys)
        while busy := {self._inflight[k] for k in wanted if k in self._inflight}:
            await asyncio.wait(busy)
        token: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in wanted:
            self._inflight[key] = token
        return token

    def release(self, token: asyncio.Future[None]) -> None:
        for key in [k for k, t in self._inflight.items() if t is token]:
            del self._inflight[key]
        if not token.done():
            token.set_result(None)
