"""The incremental evaluation the stream processor uses: apply one event, learn what changed.

`Ledger.apply` costs what the event touches, not what the group's history holds: the cross-group
indexes (incident -> current attribution, person -> memberships and sanctions, call-in -> invited
groups and held events, relations, retractions) find the groups concerned, and each `GroupLedger`
updates its links and cases locally. Applying any set of events in any order, with any copies,
leaves the same state as `derive` over that set; the property test checks exactly that.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from services.contracts import RETRACTION_TYPE, CloudEvent
from services.contracts.events import (
    CallInHeld,
    CallInScheduled,
    GroupRegistered,
    GroupRelationEnded,
    GroupRelationRecorded,
    IncidentAttributed,
    IncidentReported,
    MembershipAssessed,
    SanctionRecorded,
    WarningDelivered,
)
from services.sanctions.domain.alerts import Alert, AlertChanges, AlertKind, AlertWithdrawal
from services.sanctions.domain.derive import Derived
from services.sanctions.domain.facts import Fact, FactKey, OrderKey, as_fact, preferred, retraction_target
from services.sanctions.domain.group_ledger import GroupLedger
from services.sanctions.domain.probation import attendance_of, no_show_groups, probation_person
from services.sanctions.domain.rules import (
    DEFAULT_WINDOW_DAYS,
    Incident,
    current_incident,
    in_conflict,
    invited_groups,
    involved_groups,
    latest,
    left_group_of,
    membership_counts_at,
    membership_valid_at,
    registered_name,
)
from services.sanctions.domain.sorted_lists import remove_sorted
from services.sanctions.domain.state import (
    CaseState,
    GroupState,
    GroupSummary,
    Presentation,
    SanctionLink,
    UnresolvedSanction,
)

__all__ = ["Ledger", "Update"]

_K = TypeVar("_K")
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
class _Memberships:
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


def _first(key: tuple[datetime, str, str]) -> datetime:
    return key[0]


@dataclass(slots=True)
class _CallIn:
    schedules: dict[FactKey, Fact] = field(default_factory=dict)
    helds: dict[FactKey, Fact] = field(default_factory=dict)
    invited: frozenset[str] = frozenset()


class Ledger:
    """All groups' states, kept current one event at a time."""

    def __init__(self, *, window_days: int = DEFAULT_WINDOW_DAYS) -> None:
        self._window_days = window_days
        self._facts: dict[FactKey, Fact] = {}
        self._retracted_by: dict[FactKey, set[FactKey]] = {}
        self._groups: dict[str, GroupLedger] = {}
        self._registrations: dict[str, dict[FactKey, Fact]] = {}
        self._reports: dict[str, dict[FactKey, Fact]] = {}
        self._attributions: dict[str, dict[FactKey, Fact]] = {}
        self._incident: dict[str, Incident] = {}
        self._victim_of: dict[str, set[str]] = {}
        self._at_risk: dict[str, frozenset[str]] = {}
        self._risks_of: dict[str, set[str]] = {}
        """group -> the incidents of its `retaliation_risk` alerts"""
        self._violence: dict[str, list[tuple[datetime, str]]] = {}
        """group -> (time, incident id) of the confirmed incidents involving it, sorted"""
        self._violence_touched: set[str] = set()
        self._memberships: dict[str, _Memberships] = {}
        self._left: dict[tuple[str, str], list[OrderKey]] = {}
        """(person, group) -> the `left_group` exit milestones that end the person's membership
        (rule 4), in (time, id, source) order."""
        self._person_sanctions: dict[str, list[OrderKey]] = {}
        self._person_sanction: dict[OrderKey, Fact] = {}
        self._resolution: dict[FactKey, dict[str, tuple[str, ...]]] = {}
        self._unresolved: dict[FactKey, UnresolvedSanction] = {}
        self._call_ins: dict[str, _CallIn] = {}
        self._invited_to: dict[str, set[str]] = {}
        self._relations: dict[frozenset[str], dict[FactKey, Fact]] = {}
        self._conflicts: dict[str, set[str]] = {}
        self._probation: dict[str, list[datetime]] = {}
        self._no_show_call_ins: dict[str, set[str]] = {}
        """person -> the call-ins whose held reports (any of them, current or not) list them as a no-show"""
        self._no_show_groups: dict[str, frozenset[str]] = {}
        self._alerts: dict[str, Alert] = {}
        self._touched: set[str] = set()
        self._alerts_before: dict[str, Alert | None] = {}
        self._unresolved_before: dict[FactKey, UnresolvedSanction | None] = {}

    # -- the API ------------------------------------------------------------------------------------
    def apply(self, item: CloudEvent | Fact) -> Update:
        """Take one event (a copy of one already seen is harmless) and return what changed."""
        self._take(as_fact(item))
        return self._settle()

    def apply_batch(self, items: Iterable[CloudEvent | Fact]) -> Update:
        """Take several events and return what they changed together: the same state as applying
        them one by one, but each case, link and record they touch is rebuilt once, not once per
        event (the processor applies what it reads in batches)."""
        for item in items:
            self._take(as_fact(item))
        return self._settle()

    def _take(self, fact: Fact) -> None:
        prev = self._facts.get(fact.key)
        if prev is None:
            self._facts[fact.key] = fact
            self._add_effect(fact)
        elif preferred(prev, fact) is fact and prev != fact:
            if prev.same_content(fact):
                self._facts[fact.key] = fact
            else:
                self._remove_effect(prev)
                self._facts[fact.key] = fact
                self._add_effect(fact)

    def apply_all(self, items: Iterable[CloudEvent | Fact]) -> None:
        for item in items:
            self.apply(item)

    def group_ids(self) -> list[str]:
        """Every group the events have named (some may have no state: see `group_state`)."""
        return sorted(self._groups)

    def group_state(self, group_id: str) -> GroupState | None:
        group = self._groups.get(group_id)
        return None if group is None or group.is_empty() else group.state()

    def case_state(self, group_id: str, incident_id: str) -> CaseState | None:
        group = self._groups.get(group_id)
        return None if group is None else group.case(incident_id)

    def summary(self, group_id: str) -> GroupSummary | None:
        group = self._groups.get(group_id)
        return None if group is None or group.is_empty() else group.summary()

    def unwarned_incident_time(self, group_id: str, incident_id: str) -> datetime | None:
        """The incident's time if it counts as unwarned violence by the group, else None."""
        group = self._groups.get(group_id)
        return group.incident_time(incident_id) if group is not None and group.is_unwarned(incident_id) \
            else None

    def baseline_link(self, group_id: str, source: str, sanction_id: str) -> SanctionLink | None:
        group = self._groups.get(group_id)
        return None if group is None else group.baseline_link(source, sanction_id)

    def fact(self, key: FactKey) -> Fact | None:
        """The copy of an event that counts, for the explain tool (topic, partition, offset)."""
        return self._facts.get(key)

    def latest_violence(self, group_id: str) -> datetime | None:
        """The time of the latest confirmed incident the group is suspected of or a victim of
        (`rules.involved_groups`), or None: what renews its retaliation risks."""
        times = self._violence.get(group_id)
        return times[-1][0] if times else None

    def violence(self) -> dict[str, datetime]:
        """`latest_violence` of every group that has any (what `derive.violence` gives)."""
        return {g: times[-1][0] for g, times in sorted(self._violence.items()) if times}

    def incident_time(self, incident_id: str) -> datetime | None:
        inc = self._incident.get(incident_id)
        return None if inc is None else inc.time

    def retaliation_risks(self, group_id: str) -> list[str]:
        """The incidents of the group's `retaliation_risk` alerts, sorted."""
        return sorted(self._risks_of.get(group_id, ()))

    @property
    def alerts(self) -> Mapping[str, Alert]:
        return self._alerts

    @property
    def unresolved(self) -> Mapping[FactKey, UnresolvedSanction]:
        return self._unresolved

    def derived(self) -> Derived:
        """A snapshot in the form `derive` gives (materialises every group: for replay and tests)."""
        groups = {g: self._groups[g].state() for g in sorted(self._groups) if not self._groups[g].is_empty()}
        return Derived(groups, dict(sorted(self._unresolved.items())), dict(sorted(self._alerts.items())))

    # -- effects of facts ---------------------------------------------------------------------------
    def _add_effect(self, fact: Fact) -> None:
        target = retraction_target(fact)
        if target is not None:
            holders = self._retracted_by.setdefault(target, set())
            holders.add(fact.key)
            victim = self._facts.get(target)
            if len(holders) == 1 and victim is not None and victim.type != RETRACTION_TYPE:
                self._switch(victim, on=False)
        elif fact.type != RETRACTION_TYPE and not self._retracted_by.get(fact.key):
            self._switch(fact, on=True)

    def _remove_effect(self, fact: Fact) -> None:
        target = retraction_target(fact)
        if target is not None:
            holders = self._retracted_by[target]
            holders.discard(fact.key)
            if not holders:
                del self._retracted_by[target]
                victim = self._facts.get(target)
                if victim is not None and victim.type != RETRACTION_TYPE:
                    self._switch(victim, on=True)
        elif fact.type != RETRACTION_TYPE and not self._retracted_by.get(fact.key):
            self._switch(fact, on=False)

    def _switch(self, fact: Fact, *, on: bool) -> None:
        """Make an event count (`on`) or stop counting, and propagate."""
        data = fact.data
        if isinstance(data, GroupRegistered):
            _put(self._registrations, data.group_id, fact, on)
            self._group(data.group_id).set_registration(
                registered_name(self._registrations.get(data.group_id, {}).values()))
        elif isinstance(data, WarningDelivered):
            group = self._group(data.group_id)
            group.add_warning(fact) if on else group.remove_warning(fact)
        elif isinstance(data, IncidentReported | IncidentAttributed):
            index = self._reports if isinstance(data, IncidentReported) else self._attributions
            _put(index, data.incident_id, fact, on)
            self._refresh_incident(data.incident_id)
        elif isinstance(data, MembershipAssessed):
            self._memberships.setdefault(data.person_ref, _Memberships()).put(fact, data, on)
            keys = self._person_sanctions.get(data.person_ref, [])
            lo = bisect.bisect_left(keys, data.valid_from, key=lambda k: k[0])
            hi = bisect.bisect_left(keys, data.valid_until, key=lambda k: k[0])
            for key in keys[lo:hi]:
                self._resolve(self._person_sanction[key])
        elif isinstance(data, SanctionRecorded):
            self._switch_sanction(fact, data, on)
            if (person := probation_person(data)) is not None:
                self._switch_probation(person, fact.time, on)
        elif isinstance(data, CallInScheduled | CallInHeld):
            call_in = self._call_ins.setdefault(data.call_in_id, _CallIn())
            _put_flat(call_in.schedules if isinstance(data, CallInScheduled) else call_in.helds, fact, on)
            self._refresh_call_in(data.call_in_id)
            if isinstance(data, CallInHeld):
                for entry in data.no_shows if on else ():
                    self._no_show_call_ins.setdefault(entry.person_ref, set()).add(data.call_in_id)
                self._refresh_no_shows(data.call_in_id)
        elif isinstance(data, GroupRelationRecorded | GroupRelationEnded):
            pair = frozenset((data.group_id, data.other_group_id))
            _put(self._relations, pair, fact, on)
            self._refresh_relation(pair)
        elif (left := left_group_of(fact)) is not None:
            orders = self._left.setdefault(left, [])
            if on:
                bisect.insort(orders, fact.order)
            else:
                remove_sorted(orders, fact.order)
            keys = self._person_sanctions.get(left[0], [])
            for key in keys[bisect.bisect_left(keys, fact.time, key=lambda k: k[0]):]:
                self._resolve(self._person_sanction[key])

    def _switch_sanction(self, fact: Fact, data: SanctionRecorded, on: bool) -> None:
        if data.group_id is not None:
            group = self._group(data.group_id)
            group.add_sanction(fact, ()) if on else group.remove_sanction(fact)
            return
        person = data.person_ref or ""
        keys = self._person_sanctions.setdefault(person, [])
        if on:
            bisect.insort(keys, fact.order)
            self._person_sanction[fact.order] = fact
            self._resolve(fact)
            return
        remove_sorted(keys, fact.order)
        del self._person_sanction[fact.order]
        for group_id in self._resolution.pop(fact.key, {}):
            self._group(group_id).remove_sanction(fact)
        self._set_unresolved(fact.key, None)

    def _resolve(self, fact: Fact) -> None:
        """Rule 4 for a sanction naming only a person: every group with a membership valid then and
        not ended by a `left_group` exit milestone."""
        assert isinstance(fact.data, SanctionRecorded)
        found: dict[str, list[str]] = {}
        memberships = self._memberships.get(fact.data.person_ref or "")
        person = fact.data.person_ref or ""
        for m, data in memberships.valid_at(fact.time) if memberships is not None else ():
            left = self._left.get((person, data.group_id), ())
            if not left or membership_counts_at(data, fact.time, (order[0] for order in left)):
                found.setdefault(data.group_id, []).append(m.id)
        new = {g: tuple(sorted(ids)) for g, ids in found.items()}
        old = self._resolution.get(fact.key, {})
        for group_id, ids in old.items():
            if new.get(group_id) != ids:
                self._group(group_id).remove_sanction(fact)
        for group_id, ids in new.items():
            if old.get(group_id) != ids:
                self._group(group_id).add_sanction(fact, ids)
        self._resolution[fact.key] = new
        self._set_unresolved(fact.key, None if new else UnresolvedSanction(
            sanction_id=fact.id, source=fact.source, time=fact.time, kind=fact.data.kind.value,
            incident_id=fact.data.incident_id))

    def _refresh_incident(self, incident_id: str) -> None:
        old = self._incident.pop(incident_id, None)
        new = current_incident(self._reports.get(incident_id, {}).values(),
                               self._attributions.get(incident_id, {}).values())
        if old == new:
            if new is not None:
                self._incident[incident_id] = new
            return
        if old is not None:
            for group_id in involved_groups(old):
                remove_sorted(self._violence[group_id], (old.time, incident_id))
                self._violence_touched.add(group_id)
            for group_id in old.suspected if old.confirmed else ():
                self._group(group_id).remove_incident(old)
            for group_id in old.victims:
                self._victim_of[group_id].discard(incident_id)
        if new is not None:
            self._incident[incident_id] = new
            for group_id in involved_groups(new):
                bisect.insort(self._violence.setdefault(group_id, []), (new.time, incident_id))
                self._violence_touched.add(group_id)
            for group_id in new.suspected if new.confirmed else ():
                self._group(group_id).add_incident(new)
            for group_id in new.victims:
                self._victim_of.setdefault(group_id, set()).add(incident_id)
        self._refresh_retaliation(incident_id)

    def _refresh_call_in(self, call_in_id: str) -> None:
        call_in = self._call_ins[call_in_id]
        _, invited = invited_groups(call_in.schedules.values())
        for group_id in call_in.invited - invited:
            self._invited_to[group_id].discard(call_in_id)
        for group_id in invited:
            self._invited_to.setdefault(group_id, set()).add(call_in_id)
        affected, call_in.invited = call_in.invited | invited, invited
        for group_id in affected:
            self._group(group_id).set_presentations(self._presentations_of(group_id))

    def _presentations_of(self, group_id: str) -> list[Presentation]:
        out: list[Presentation] = []
        for call_in_id in self._invited_to.get(group_id, ()):
            call_in = self._call_ins[call_in_id]
            schedule = latest(call_in.schedules.values())
            if schedule is None:
                continue
            out.extend(Presentation(call_in_id=call_in_id, held_id=h.id, held_time=h.time,
                                    scheduled_id=schedule.id) for h in call_in.helds.values())
        return out

    def _switch_probation(self, person: str, time: datetime, on: bool) -> None:
        times = self._probation.setdefault(person, [])
        if on:
            bisect.insort(times, time)
        else:
            del times[bisect.bisect_left(times, time)]
        for call_in_id in self._no_show_call_ins.get(person, ()):
            self._refresh_no_shows(call_in_id)

    def _refresh_no_shows(self, call_in_id: str) -> None:
        """Rule 9 for one call-in: its latest held report's no-shows on probation."""
        held = attendance_of(self._call_ins[call_in_id].helds.values())
        groups = no_show_groups(held, lambda person: self._probation.get(person, ()))
        old = self._no_show_groups.pop(call_in_id, frozenset())
        if groups:
            self._no_show_groups[call_in_id] = groups
        for group_id in old - groups:
            self._set_alert(AlertKind.NO_SHOW_ON_PROBATION, group_id, call_in_id, False)
        for group_id in groups - old:
            self._set_alert(AlertKind.NO_SHOW_ON_PROBATION, group_id, call_in_id, True)

    def _refresh_relation(self, pair: frozenset[str]) -> None:
        a, b = sorted(pair)
        if in_conflict(self._relations.get(pair, {}).values()):
            self._conflicts.setdefault(a, set()).add(b)
            self._conflicts.setdefault(b, set()).add(a)
        else:
            self._conflicts.get(a, set()).discard(b)
            self._conflicts.get(b, set()).discard(a)
        for incident_id in self._victim_of.get(a, set()) | self._victim_of.get(b, set()):
            self._refresh_retaliation(incident_id)

    def _refresh_retaliation(self, incident_id: str) -> None:
        inc = self._incident.get(incident_id)
        at_risk: frozenset[str] = frozenset()
        if inc is not None and inc.confirmed and inc.victims:
            at_risk = inc.victims.union(*(self._conflicts.get(v, set()) for v in inc.victims))
        old = self._at_risk.pop(incident_id, frozenset())
        if at_risk:
            self._at_risk[incident_id] = at_risk
        for group_id in old - at_risk:
            self._risks_of[group_id].discard(incident_id)
            self._set_alert(AlertKind.RETALIATION_RISK, group_id, incident_id, False)
        for group_id in at_risk - old:
            self._risks_of.setdefault(group_id, set()).add(incident_id)
            self._set_alert(AlertKind.RETALIATION_RISK, group_id, incident_id, True)

    # -- bookkeeping --------------------------------------------------------------------------------
    def _group(self, group_id: str) -> GroupLedger:
        group = self._groups.get(group_id)
        if group is None:
            group = self._groups[group_id] = GroupLedger(group_id, self._window_days)
        self._touched.add(group_id)
        return group

    def _set_alert(self, kind: AlertKind, group_id: str, incident_id: str, holds: bool) -> None:
        alert = Alert.of(kind, group_id, incident_id)
        self._alerts_before.setdefault(alert.alert_id, self._alerts.get(alert.alert_id))
        if holds:
            self._alerts[alert.alert_id] = alert
        else:
            self._alerts.pop(alert.alert_id, None)

    def _set_unresolved(self, key: FactKey, record: UnresolvedSanction | None) -> None:
        self._unresolved_before.setdefault(key, self._unresolved.get(key))
        if record is None:
            self._unresolved.pop(key, None)
        else:
            self._unresolved[key] = record

    def _settle(self) -> Update:
        case_ids: list[tuple[str, str]] = []
        unwarned_ids: list[tuple[str, str]] = []
        baseline_ids: list[tuple[str, str, str]] = []
        for group_id in sorted(self._touched):
            group = self._groups[group_id]
            changed, reclassified, baseline = group.settle()
            case_ids.extend((group_id, i) for i in sorted(changed))
            unwarned_ids.extend((group_id, i) for i in sorted(reclassified))
            baseline_ids.extend((group_id, source, i) for source, i in sorted(baseline))
            for incident_id in reclassified:
                is_case = group.case(incident_id) is not None
                unwarned = group.has_incident(incident_id) and not is_case
                self._set_alert(AlertKind.ENFORCEMENT_TRIGGERED, group_id, incident_id, is_case)
                self._set_alert(AlertKind.UNWARNED_VIOLENCE, group_id, incident_id, unwarned)
        raised = tuple(self._alerts[i] for i, old in sorted(self._alerts_before.items())
                       if old is None and i in self._alerts)
        withdrawn = tuple(AlertWithdrawal.of(old) for i, old in sorted(self._alerts_before.items())
                          if old is not None and i not in self._alerts)
        unresolved = {k: self._unresolved.get(k) for k, old in sorted(self._unresolved_before.items())
                      if self._unresolved.get(k) != old}
        update = Update(tuple(sorted(self._touched)), tuple(case_ids), tuple(unwarned_ids),
                        tuple(baseline_ids), unresolved, AlertChanges(raised, withdrawn),
                        tuple(sorted(self._violence_touched)))
        self._touched, self._alerts_before, self._unresolved_before = set(), {}, {}
        self._violence_touched = set()
        return update


def _put(index: dict[_K, dict[FactKey, Fact]], key: _K, fact: Fact, on: bool) -> None:
    _put_flat(index.setdefault(key, {}), fact, on)


def _put_flat(bucket: dict[FactKey, Fact], fact: Fact, on: bool) -> None:
    if on:
        bucket[fact.key] = fact
    else:
        bucket.pop(fact.key, None)
