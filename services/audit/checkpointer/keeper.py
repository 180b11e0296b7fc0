"""The checkpointer's core, without Kafka: chains per partition and when each owes a checkpoint.

A partition owes a checkpoint once `every_records` records are chained since its last one, or once
its oldest unchecked record has waited `every_seconds`. A partition with nothing new owes none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from services.audit.library import ChainState, Checkpoint, RecordLike, SigningKey, make_checkpoint

__all__ = ["ChainKeeper"]

Partition = tuple[str, int]


@dataclass(slots=True)
class _Chain:
    state: ChainState
    last_checkpoint_offset: int
    segment: list[tuple[int, bytes]] = field(default_factory=list)
    waiting_since: float | None = None


class ChainKeeper:
    def __init__(self, key: SigningKey, *, every_records: int, every_seconds: float) -> None:
        self._key = key
        self._every_records = every_records
        self._every_seconds = every_seconds
        self._chains: dict[Partition, _Chain] = {}

    def __contains__(self, partition: Partition) -> bool:
        return partition in self._chains

    def start(self, topic: str, partition: int, resume_from: Checkpoint | None = None) -> int:
        """Begin (or resume) a partition's chain; returns the offset to read from."""
        if resume_from is None:
            self._chains[(topic, partition)] = _Chain(ChainState.start(topic, partition), -1)
            return 0
        state = ChainState(topic, partition, bytes.fromhex(resume_from.chain), resume_from.offset,
                           resume_from.count)
        self._chains[(topic, partition)] = _Chain(state, resume_from.offset)
        return resume_from.offset + 1

    def add(self, record: RecordLike, now: float) -> bool:
        """Chain a record; True if its partition now owes a checkpoint by count."""
        chain = self._chains[(record.topic, record.partition)]
        if record.offset <= chain.state.offset:
            return False  # already chained (a re-delivery after a seek)
        chain.segment.append((record.offset, chain.state.add(record)))
        if chain.waiting_since is None:
            chain.waiting_since = now
        return len(chain.segment) >= self._every_records

    def owing(self, now: float) -> list[Partition]:
        return sorted(p for p, c in self._chains.items()
                      if c.segment and (len(c.segment) >= self._every_records or (
                          c.waiting_since is not None and now - c.waiting_since >= self._every_seconds)))

    def checkpoint(self, partition: Partition, time: datetime) -> Checkpoint:
        """The signed checkpoint a partition owes now; `published` once it is on Kafka."""
        chain = self._chains[partition]
        return make_checkpoint(chain.state, chain.segment, chain.last_checkpoint_offset, time, self._key)

    def published(self, checkpoint: Checkpoint) -> None:
        chain = self._chains[(checkpoint.topic, checkpoint.partition)]
        chain.segment = [(o, d) for o, d in chain.segment if o > checkpoint.offset]
        chain.last_checkpoint_offset = checkpoint.offset
        chain.waiting_since = None if not chain.segment else chain.waiting_since

    def position(self, partition: Partition) -> int:
        return self._chains[partition].state.offset

    def pending(self) -> int:
        return sum(len(c.segment) for c in self._chains.values())
