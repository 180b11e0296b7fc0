"""The publisher port: durably append records to Kafka, or say that it could not.

Contract (both the Kafka adapter and the fake pass `tests/integration/test_publisher_contract.py`):
* `publish` returns one `Placement` per record, in order, only once every record is acknowledged
  by all in-sync replicas;
* with `atomic=True` either all records become visible to `read_committed` consumers or none do;
* with a `gate` (the new person keys the records were sealed with, `services.privacy`), it commits
  only once the gate has passed; a gate that fails fails the publication, before the commit, as
  any other failure before it;
* on failure it raises `BrokerUnavailable`. If the failure came before the broker was asked to
  commit, none of the records will appear later and its `settled` is None. Otherwise the outcome is
  in doubt (a commit the broker carried out, or completed after a restart, while its answer was
  lost): `settled` then completes once the outcome is decided and readable, and the records may
  have appeared by then. The intake keeps their ids undecided until it completes, so that a
  client's retry gets the original receipt rather than writing a second copy.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from services.intake.errors import BrokerUnavailable, ClaimRaceLost
from services.privacy.store import ClaimGate, ClaimLost, KeyStoreUnavailable

__all__ = ["FakePublisher", "OutgoingRecord", "Placement", "Publisher", "gate_refusal"]


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str
    key: str
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Placement:
    topic: str
    partition: int
    offset: int


class Publisher(Protocol):
    async def publish(self, records: Sequence[OutgoingRecord], *, atomic: bool,
                      gate: ClaimGate | None = None) -> list[Placement]: ...

    async def is_reachable(self) -> bool: ...

    async def close(self) -> None: ...


def gate_refusal(exc: KeyStoreUnavailable) -> BrokerUnavailable:
    """The answer to records whose claim gate did not pass: nothing was published. A claim lost to
    another intake's claim of the same person (`ClaimLost`) gives `ClaimRaceLost`, which the intake
    retries itself; any other failure of the key store is a plain 503."""
    refused = ClaimRaceLost if isinstance(exc, ClaimLost) else BrokerUnavailable
    return refused(f"nothing was published: {exc}; retry with the same id")


@dataclass
class FakePublisher:
    """In-memory publisher for unit tests; set `reachable = False` to simulate a broker outage."""

    partitions: int = 3
    reachable: bool = True
    log: list[tuple[OutgoingRecord, Placement]] = field(default_factory=list)
    _offsets: dict[tuple[str, int], itertools.count[int]] = field(default_factory=dict)

    async def publish(self, records: Sequence[OutgoingRecord], *, atomic: bool,
                      gate: ClaimGate | None = None) -> list[Placement]:
        if not self.reachable:
            raise BrokerUnavailable("the event log is unreachable; nothing was published, retry later")
        if gate is not None:
            try:
                await gate.passed()
            except KeyStoreUnavailable as exc:
                raise gate_refusal(exc) from exc
        placements = []
        for record in records:
            partition = zlib.crc32(record.key.encode()) % self.partitions
            counter = self._offsets.setdefault((record.topic, partition), itertools.count())
            placement = Placement(record.topic, partition, next(counter))
            self.log.append((record, placement))
            placements.append(placement)
        return placements

    async def is_reachable(self) -> bool:
        return self.reachable

    async def close(self) -> None:
        return None
