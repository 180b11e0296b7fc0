"""The parts the `Ledger` is made of besides the group ledgers: what one applied event changed
(`Update`), the cross-group indexes of memberships, call-ins, retaliation risks and no-shows on
probation, and the outputs it tracks between two settlements (`Tracked`)."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from services.contracts.events import MembershipAssessed
from services.contracts.group_state import Presentation, UnresolvedSanction
from services.followthrough.alerts import AlertChanges
from services.followthrough.facts import Fact, FactKey
from services.followthrough.probation import no_show_groups
from services.followthrough.rules import (
    Incident,
    in_conflict,
    latest,
    membership_counts_at,
    membership_valid_at,
)
from services.followthrough.sorted_lists import remove_sorted

__all__ = ["CallIn", "Memberships", "NoShowsOnProbation", "RetaliationRisks", "Tracked", "Update",
           "presentations", "put", "put_flat"]

_K = TypeVar("_K")
_V = TypeVar("_V")
_NO_ALERTS = AlertChanges((), ())


@dataclass(frozen=True, slots=True)
class Update:
    """What one applied event changed. `group_ids`: groups whose state may have changed (a group
    whose state became empty has none any more: publish a tombstone); `case_ids`: (group, incident)
    cases created, changed or removed; `unwarned_ids`: (group, incident) whose classification as
    unwarned violence may have changed; `baseline_ids`: (group, source, sanction id) whose baseline
    link may have changed; `unresolved`: (source, sanction id) -> record, or None once resolved or
    gone; `alerts`: raised and withdrawn."""

    group_ids: tuple[str, ...] = ()
    case_ids: tuple[tuple[str, str], ...] = ()
    unwarned_ids: tuple[tuple[str, str], ...] = ()
    baseline_ids: tuple[tuple[str, str, str], ...] = ()
    unresolved: Mapping[FactKey, UnresolvedSanction | None] = field(default_factory=dict)
    alerts: AlertChanges = _NO_ALERTS
    violence_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class Memberships:
    """One person's membership assessments by `valid_from`; those valid at t have `valid_from` in
    (t - longest period, t], so a lookup reads only those, not the person's whole history."""

    by_start: list[tuple[datetime, str, str]] = field(default_factory=list)
    facts: dict[tuple[datetime, str, str], Fact] = field(default_factory=dict)
    longest: timedelta = timedelta(0)

    def put(self, fact: Fact, data: MembershipAssessed, on: bool) -> None:
        key = (data.valid_from, fact.id, fact.source)
        if on:
            bisect.insort(self.by_start, key)
            self.facts[key] = fact
            self.longest = max(self.longest, data.valid_until - data.valid_from)
        else:
            remove_sorted(self.by_start, key)
            del self.facts[key]

    def valid_at(self, time: datetime) -> Iterable[tuple[Fact, MembershipAssessed]]:
        lo = bisect.bisect_right(self.by_start, time - self.longest, key=_first)
        hi = bisect.bisect_right(self.by_start, time, key=_first)
        for key in self.by_start[lo:hi]:
            fact = self.facts[key]
            assert isinstance(fact.data, MembershipAssessed)
            if membership_valid_at(fact.data, time):
                yield fact, fact.data

    def groups_at(self, time: datetime,
                  left_at: Callable[[str], Iterable[datetime]]) -> dict[str, tuple[str, ...]]:
        """Rule 4 at `time`: group -> the ids of the person's assessments that count then (sorted),
        `left_at(group)` giving the times of the person's `left_group` milestones for the group."""
        found: dict[str, list[str]] = {}
        for fact, data in self.valid_at(time):
            if membership_counts_at(data, time, left_at(data.group_id)):
                found.setdefault(data.group_id, []).append(fact.id)
        return {group_id: tuple(sorted(ids)) for group_id, ids in found.items()}


def _first(key: tuple[datetime, str, str]) -> datetime:
    return key[0]


@dataclass(slots=True)
class CallIn:
    schedules: dict[FactKey, Fact] = field(default_factory=dict)
    helds: dict[FactKey, Fact] = field(default_factory=dict)
    invited: frozenset[str] = frozenset()


def presentations(call_ins: Mapping[str, CallIn], call_in_ids: Iterable[str]) -> list[Presentation]:
    """Every held event of the call-ins among `call_in_ids` that were scheduled (with the latest schedule)."""
    out: list[Presentation] = []
    for call_in_id in call_in_ids:
        call_in = call_ins[call_in_id]
        schedule = latest(call_in.schedules.values())
        if schedule is None:
            continue
        out.extend(Presentation(call_in_id=call_in_id, held_id=h.id, held_time=h.time,
                                scheduled_id=schedule.id) for h in call_in.helds.values())
    return out


class Tracked(Generic[_K, _V]):
    """A mapping of current outputs that remembers, until `changes`, what each key it changed held
    before (the alerts, the unresolved sanctions)."""

    def __init__(self) -> None:
        self.current: dict[_K, _V] = {}
        self._before: dict[_K, _V | None] = {}

    def set(self, key: _K, value: _V | None) -> None:
        self._before.setdefault(key, self.current.get(key))
        if value is None:
            self.current.pop(key, None)
        else:
            self.current[key] = value

    def changes(self) -> list[tuple[_K, _V | None, _V | None]]:
        """(key, before, now) of every key whose value changed since the last call, by key."""
        before, self._before = self._before, {}
        return [(key, old, self.current.get(key)) for key, old in sorted(before.items())
                if self.current.get(key) != old]


def put(index: dict[_K, dict[FactKey, Fact]], key: _K, fact: Fact, on: bool) -> None:
    put_flat(index.setdefault(key, {}), fact, on)


def put_flat(bucket: dict[FactKey, Fact], fact: Fact, on: bool) -> None:
    if on:
        bucket[fact.key] = fact
    else:
        bucket.pop(fact.key, None)


class RetaliationRisks:
    """The groups at risk of retaliation after each confirmed incident with victim groups: its victim
    groups and every group in conflict with one of them (by the relations recorded between pairs)."""

    def __init__(self) -> None:
        self._relations: dict[frozenset[str], dict[FactKey, Fact]] = {}
        self._conflicts: dict[str, set[str]] = {}
        self._victim_of: dict[str, set[str]] = {}
        self._at_risk: dict[str, frozenset[str]] = {}
        self._risks_of: dict[str, set[str]] = {}
        """group -> the incidents of its `retaliation_risk` alerts"""

    def risks_of(self, group_id: str) -> list[str]:
        return sorted(self._risks_of.get(group_id, ()))

    def set_victims(self, incident_id: str, old: Iterable[str], new: Iterable[str]) -> None:
        for group_id in old:
            self._victim_of[group_id].discard(incident_id)
        for group_id in new:
            self._victim_of.setdefault(group_id, set()).add(incident_id)

    def put_relation(self, pair: frozenset[str], fact: Fact, on: bool) -> set[str]:
        """Take a relation event about `pair`; return the incidents whose risks it may change."""
        put(self._relations, pair, fact, on)
        a, b = sorted(pair)
        if in_conflict(self._relations.get(pair, {}).values()):
            self._conflicts.setdefault(a, set()).add(b)
            self._conflicts.setdefault(b, set()).add(a)
        else:
            self._conflicts.get(a, set()).discard(b)
            self._conflicts.get(b, set()).discard(a)
        return self._victim_of.get(a, set()) | self._victim_of.get(b, set())

    def refresh(self, incident_id: str, incident: Incident | None) -> tuple[frozenset[str], frozenset[str]]:
        """The incident's groups at risk again; returns (groups no longer at risk, groups newly at risk)."""
        at_risk: frozenset[str] = frozenset()
        if incident is not None and incident.confirmed and incident.victims:
            at_risk = incident.victims.union(*(self._conflicts.get(v, set()) for v in incident.victims))
        old = self._at_risk.pop(incident_id, frozenset())
        if at_risk:
            self._at_risk[incident_id] = at_risk
        for group_id in old - at_risk:
            self._risks_of[group_id].discard(incident_id)
        for group_id in at_risk - old:
            self._risks_of.setdefault(group_id, set()).add(incident_id)
        return old - at_risk, at_risk - old


class NoShowsOnProbation:
    """Rule 9's indexes: each person's probation action times, the call-ins whose held reports (any
    of them, current or not) list the person as a no-show, and each call-in's groups with a member
    on probation among the no-shows of its held report that counts."""

    def __init__(self) -> None:
        self._probation: dict[str, list[datetime]] = {}
        self._call_ins_of: dict[str, set[str]] = {}
        self._groups: dict[str, frozenset[str]] = {}

    def put_probation(self, person: str, time: datetime, on: bool) -> set[str]:
        """Take a probation action naming `person`; return the call-ins whose alerts it may change."""
        times = self._probation.setdefault(person, [])
        if on:
            bisect.insort(times, time)
        else:
            del times[bisect.bisect_left(times, time)]
        return self._call_ins_of.get(person, set())

    def add_no_shows(self, call_in_id: str, persons: Iterable[str]) -> None:
        for person in persons:
            self._call_ins_of.setdefault(person, set()).add(call_in_id)

    def refresh(self, call_in_id: str, held: Fact | None) -> tuple[frozenset[str], frozenset[str]]:
        """Rule 9 for one call-in, from its held report that counts (`probation.attendance_of`);
        returns (groups no longer alerted, groups newly alerted)."""
        groups = no_show_groups(held, lambda person: self._probation.get(person, ()))
        old = self._groups.pop(call_in_id, frozenset())
        if groups:
            self._groups[call_in_id] = groups
        return old - groups, groups - old
