"""Whether a worker is ready, and whether it is alive, from what it has seen: no Kafka, no clock.

A worker is **ready** when it can be trusted to be publishing what the log says, now:

1. its ledger is loaded from the fact store, and it holds every source partition (the rules join
   across partitions; a worker given only some waits for the next rebalance);
2. its share of the publishing is known;
3. it has caught up: every assigned source partition was read to its end, every record fetched
   until then was handled (the consumer asked for its next fetch since: a fetch returned by the
   consumer is handled a moment later, `follow_catch_up`), and the outputs of those records were
   acknowledged by the broker; then it has corrected the `group-state` partitions it took over
   (`taking_over`), which it does only once caught up;
4. the broker answered within `broker_timeout` seconds;
5. no output sent has waited longer than `max_pending` seconds for the broker's acknowledgement,
   and no record handled has waited longer than that for its offset to be committed.

It is **alive** unless outputs have waited longer than `liveness_bound` for an acknowledgement
while the broker answers: a worker in that state does not recover by itself, and a restart does.

The worker feeds a `Health` with what happens (`sent`, `fetching`, `handled`, `committed`,
`broker_answered`, `follow_catch_up`) and asks it with the time of the question.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Health", "Readiness"]


class _Done(Protocol):
    def done(self) -> bool: ...


Partition = Any  # any hashable name of a source partition (faust's TP)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str
    oldest_unacknowledged_s: float
    oldest_uncommitted_s: float
    broker_silent_s: float | None

    def body(self) -> dict[str, object]:
        return {"status": "ready" if self.ready else "not ready", "reason": self.reason,
                "oldest_unacknowledged_output_seconds": round(self.oldest_unacknowledged_s, 3),
                "oldest_uncommitted_record_seconds": round(self.oldest_uncommitted_s, 3),
                "broker_silent_seconds": None if self.broker_silent_s is None
                else round(self.broker_silent_s, 3)}


@dataclass
class Health:
    max_pending: float = 30.0
    broker_timeout: float = 15.0
    liveness_bound: float = 120.0
    loaded: bool = False
    all_partitions: bool = True
    share_known: bool = False
    caught_up: bool = False
    taking_over: bool = False
    _sent: deque[tuple[float, _Done]] = field(default_factory=deque)
    _uncommitted: dict[Partition, deque[tuple[int, float]]] = field(default_factory=dict)
    _broker_answered: float | None = None
    _started: float | None = None
    _fetches: int = 0
    _at_end_before_fetch: int | None = None  # the fetch count when every partition was seen at its end
    _catch_up_acks: list[Any] | None = None  # the acknowledgements that catching up waits for

    # -- what happens ----------------------------------------------------------------------------------
    def started(self, now: float) -> None:
        self._started = now

    def sent(self, acknowledgement: _Done, now: float) -> None:
        """An output (a fact, a record batch, an alert batch) handed to the producer."""
        self._sent.append((now, acknowledgement))

    def fetching(self) -> None:
        """The consumer asks for its next fetch: every record it fetched before is handled."""
        self._fetches += 1

    def handled(self, partition: Partition, next_offset: int, now: float) -> None:
        """The records of `partition` before `next_offset` are handled; their offsets await a commit."""
        self._uncommitted.setdefault(partition, deque()).append((next_offset, now))

    def committed(self, offsets: Mapping[Partition, int]) -> None:
        for partition, offset in offsets.items():
            waiting = self._uncommitted.get(partition)
            while waiting and waiting[0][0] <= offset:
                waiting.popleft()

    def forget(self) -> None:
        """The partitions were reassigned: what was handled is read again from the committed offsets."""
        self._uncommitted.clear()
        self.caught_up = False
        self._at_end_before_fetch = self._catch_up_acks = None

    def follow_catch_up(self, at_end: bool) -> None:
        """Once a second while not caught up, whether every source partition's read position is at
        its end. The position moves when the consumer returns a fetch, before the worker handles its
        records: so caught up only once the consumer asked for a later fetch (the one at the end is
        handled), and the outputs sent until then are acknowledged (none failed)."""
        if self.caught_up:
            return
        if self._at_end_before_fetch is None:
            if at_end:
                self._at_end_before_fetch = self._fetches
        elif self._catch_up_acks is None:
            if self._fetches > self._at_end_before_fetch:
                self._catch_up_acks = self.pending()
        elif all(acknowledgement.done() for acknowledgement in self._catch_up_acks):
            failed = any(a.cancelled() or a.exception() is not None for a in self._catch_up_acks)
            self.caught_up = not failed
            self._at_end_before_fetch = self._catch_up_acks = None

    def broker_answered(self, now: float) -> None:
        self._broker_answered = now

    # -- questions -----------------------------------------------------------------------------------
    def pending(self) -> list[Any]:
        """The acknowledgements still awaited."""
        return [acknowledgement for _, acknowledgement in self._sent if not acknowledgement.done()]

    def oldest_unacknowledged(self, now: float) -> float:
        sent = self._sent
        while sent and sent[0][1].done():
            sent.popleft()
        return now - sent[0][0] if sent else 0.0

    def oldest_uncommitted(self, now: float) -> float:
        oldest = [waiting[0][1] for waiting in self._uncommitted.values() if waiting]
        return now - min(oldest) if oldest else 0.0

    def broker_silent(self, now: float) -> float | None:
        """Seconds since the broker last answered (since start, if it never did; None before start)."""
        last = self._broker_answered if self._broker_answered is not None else self._started
        return None if last is None else now - last

    def readiness(self, now: float) -> Readiness:
        unacked, uncommitted = self.oldest_unacknowledged(now), self.oldest_uncommitted(now)
        silent = self.broker_silent(now)
        if not self.all_partitions:
            reason = "waiting for every source partition (another member of this worker's group holds some)"
        elif not self.loaded:
            reason = "loading the ledger from the fact store"
        elif not self.share_known:
            reason = "joining the publishers"
        elif silent is not None and silent > self.broker_timeout:
            reason = f"the broker has not answered for {silent:.0f}s"
        elif not self.caught_up:
            reason = "catching up with the source topics"
        elif self.taking_over:
            reason = "correcting the group-state partitions it took over"
        elif unacked > self.max_pending:
            reason = f"an output has waited {unacked:.0f}s for the broker's acknowledgement"
        elif uncommitted > self.max_pending:
            reason = f"a handled record has waited {uncommitted:.0f}s for its offset to be committed"
        else:
            reason = ""
        return Readiness(not reason, reason or "ready", unacked, uncommitted, silent)

    def alive(self, now: float) -> bool:
        silent = self.broker_silent(now)
        broker_answers = silent is not None and silent <= self.broker_timeout
        return not (broker_answers and self.oldest_unacknowledged(now) > self.liveness_bound)
