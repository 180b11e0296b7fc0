"""What the processor does with one source record, without Kafka: the part the faust edge wraps.

`ProcessorCore.accept` takes a record as read from a source topic (topic, partition, offset, value)
and returns what to write: the fact to keep in the fact store (or nothing, for a copy that does not
count), the `group-state` records and the alerts. `ProcessorCore.tick(now)` is the wall-clock part:
`follow_through_stalled` alerts for cases awaiting their first sanction for too long. Everything
else is the rules (`services.sanctions.domain`), which the replay tool and the tests call the same way.

Crash safety rests on three properties, each checked by tests:
* outputs are a function of the ledger's state after the event, so publishing them again is harmless
  (compaction keeps the last record per key; alerts keep their deterministic ids and content);
* the fact store holds the counting copy of every event seen, with its log position, and `restore`
  rebuilds the ledger only from facts whose offset the consumer group had committed; the others are
  delivered again after a restart, and re-applying them publishes their outputs (tombstones and
  withdrawals included);
* the consumer commits an offset only after the outputs of the events before it are acknowledged.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from services.contracts import canonical_json, parse_event
from services.sanctions.domain import (
    DEFAULT_WINDOW_DAYS,
    Alert,
    AlertKind,
    AlertWithdrawal,
    CaseStatus,
    Fact,
    Ledger,
    Update,
)
from services.sanctions.domain.facts import FactKey, preferred
from services.sanctions.domain.records import Record, records_for

__all__ = ["Outputs", "ProcessorCore", "TopicPartition", "decode_fact", "encode_fact", "fact_store_key"]

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


def fact_store_key(key: FactKey) -> bytes:
    return canonical_json(list(key))


def encode_fact(fact: Fact, value: bytes) -> bytes:
    """The fact store's value: the log position on one line, then the record's value as read."""
    return canonical_json({"topic": fact.topic, "partition": fact.partition, "offset": fact.offset}) \
        + b"\n" + value


def decode_fact(stored: bytes) -> Fact:
    position, _, value = stored.partition(b"\n")
    where = json.loads(position)
    event = parse_event(json.loads(value), allow_intake_attributes=True)
    return Fact.from_event(event, topic=where["topic"], partition=where["partition"], offset=where["offset"])


@dataclass(frozen=True, slots=True)
class Outputs:
    """What one source record makes the processor write."""

    store: tuple[bytes, bytes] | None = None
    records: tuple[Record, ...] = ()
    alerts: tuple[Alert | AlertWithdrawal, ...] = ()
    event_type: str = "unknown"
    rejected: str | None = None


@dataclass(slots=True)
class _Followed:
    """The cases the clock watches: those awaiting a first sanction, by incident time; and the
    days to first sanction of the sanctioned ones, for the swiftness figures."""

    awaiting: dict[tuple[str, str], datetime] = field(default_factory=dict)
    swiftness: dict[tuple[str, str], float] = field(default_factory=dict)
    stalled: set[tuple[str, str]] = field(default_factory=set)


class ProcessorCore:
    def __init__(self, *, window_days: int = DEFAULT_WINDOW_DAYS, stall_days: int = 14) -> None:
        self.window_days = window_days
        self.stall_days = stall_days
        self.ledger = Ledger(window_days=window_days)
        self._followed = _Followed()

    # -- the stream ---------------------------------------------------------------------------------
    def accept(self, topic: str, partition: int, offset: int, value: bytes | None,
               now: datetime | None = None) -> Outputs:
        """One record from a source topic. A record that is not an event (which the intake never
        writes) is skipped and reported as `rejected`, never fatal: one bad record must not stop
        the partnership's view."""
        if value is None:
            return Outputs(rejected="empty")
        try:
            event = parse_event(json.loads(value), allow_intake_attributes=True)
        except (ValueError, RecursionError, ValidationError):
            return Outputs(rejected="invalid")
        fact = Fact.from_event(event, topic=topic, partition=partition, offset=offset)
        counted = self.ledger.fact(fact.key)
        store = None
        if counted is None or (preferred(counted, fact) is fact and counted != fact):
            store = (fact_store_key(fact.key), encode_fact(fact, value))
        update = self.ledger.apply(fact)
        records = tuple(records_for(self.ledger, update))
        alerts: list[Alert | AlertWithdrawal] = [*update.alerts.raised, *update.alerts.withdrawn]
        alerts.extend(self._follow(update, now))
        return Outputs(store, records, tuple(alerts), event.type)

    def _follow(self, update: Update, now: datetime | None) -> Iterable[AlertWithdrawal]:
        """Keep the watched cases current; a stalled case that got its sanction (or went away)
        withdraws its stall alert."""
        out = []
        for group_id, incident_id in update.case_ids:
            key = (group_id, incident_id)
            case = self.ledger.case_state(group_id, incident_id)
            if case is not None and case.status is CaseStatus.AWAITING_SANCTION:
                self._followed.awaiting[key] = case.incident_time
                self._followed.swiftness.pop(key, None)
                continue
            incident_time = self._followed.awaiting.pop(key, None)
            if case is not None and case.days_to_first_sanction is not None:
                self._followed.swiftness[key] = case.days_to_first_sanction
            else:
                self._followed.swiftness.pop(key, None)
            was_stalled = key in self._followed.stalled or (
                incident_time is not None and now is not None and self._is_stalled(incident_time, now))
            if was_stalled:
                self._followed.stalled.discard(key)
                out.append(AlertWithdrawal.of(Alert.of(AlertKind.FOLLOW_THROUGH_STALLED, *key)))
        return out

    def _is_stalled(self, incident_time: datetime, now: datetime) -> bool:
        return now - incident_time >= timedelta(days=self.stall_days)

    # -- the clock ----------------------------------------------------------------------------------
    def tick(self, now: datetime) -> list[Alert]:
        """`follow_through_stalled` for every case awaiting its first sanction `stall_days` after
        its incident, raised once per case by this process (a restart raises them again, with the
        same ids and content)."""
        out = []
        for key, incident_time in sorted(self._followed.awaiting.items()):
            if key not in self._followed.stalled and self._is_stalled(incident_time, now):
                self._followed.stalled.add(key)
                out.append(Alert.of(AlertKind.FOLLOW_THROUGH_STALLED, *key))
        return out

    def open_cases(self) -> int:
        return len(self._followed.awaiting)

    def stalled_cases(self, now: datetime) -> int:
        return sum(1 for t in self._followed.awaiting.values() if self._is_stalled(t, now))

    def swiftness(self) -> Mapping[str, float] | None:
        """Median and 90th percentile of days to first sanction over the sanctioned cases."""
        days = sorted(self._followed.swiftness.values())
        if not days:
            return None
        p90 = days[0] if len(days) == 1 else statistics.quantiles(days, n=10, method="inclusive")[-1]
        return {"0.5": statistics.median(days), "0.9": p90}

    # -- recovery -----------------------------------------------------------------------------------
    def restore(self, stored: Iterable[bytes], committed: Mapping[TopicPartition, int]) -> int:
        """Rebuild the ledger from the fact store, keeping only facts below the committed offset of
        their partition (whose outputs were acknowledged before the commit); the rest are read again
        from the source topics and published then. Returns how many facts were restored."""
        restored = 0
        for value in stored:
            fact = decode_fact(value)
            assert fact.topic is not None and fact.partition is not None and fact.offset is not None
            if fact.offset < committed.get((fact.topic, fact.partition), 0):
                self.ledger.apply(fact)
                restored += 1
        for group_id, state in self.ledger.derived().groups.items():
            for case in state.cases:
                key = (group_id, case.incident_id)
                if case.status is CaseStatus.AWAITING_SANCTION:
                    self._followed.awaiting[key] = case.incident_time
                elif case.days_to_first_sanction is not None:
                    self._followed.swiftness[key] = case.days_to_first_sanction
        return restored

