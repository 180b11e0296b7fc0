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
from datetime import datetime

from services.contracts import RETRACTION_TYPE, CloudEvent
from services.contracts.alerts import Alert, AlertKind, AlertWithdrawal
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
from services.contracts.group_state import (
    CaseState,
    GroupState,
    GroupSummary,
    SanctionLink,
    UnresolvedSanction,
)
from services.followthrough.alerts import AlertChanges
from services.followthrough.derive import Derived
from services.followthrough.facts import Fact, FactKey, OrderKey, as_fact, preferred, retraction_target
from services.followthrough.group_ledger import GroupLedger
from services.followthrough.ledger_indexes import (
    CallIn,
    Memberships,
    NoShowsOnProbation,
    RetaliationRisks,
    Tracked,
    Update,
    presentations,
    put,
    put_flat,
)
from services.followthrough.probation import attendance_of, probation_person
from services.followthrough.rules import (
    DEFAULT_WINDOW_DAYS,
    Incident,
    current_incident,
    invited_groups,
    involved_groups,
    left_group_of,
    registered_name,
    suspected_groups,
)
from services.followthrough.sorted_lists import remove_sorted

__all__ = ["Ledger", "Update"]


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
        self._risks = RetaliationRisks()
        self._violence: dict[str, list[tuple[datetime, str]]] = {}
        """group -> (time, incident id) of the confirmed incidents involving it, sorted"""
        self._violence_touched: set[str] = set()
        self._memberships: dict[str, Memberships] = {}
        self._left: dict[tuple[str, str], list[OrderKey]] = {}
        """(person, group) -> the `left_group` exit milestones that end the person's membership
        (rule 4), in (time, id, source) order."""
        self._person_sanctions: dict[str, list[OrderKey]] = {}
        self._person_sanction: dict[OrderKey, Fact] = {}
        self._resolution: dict[FactKey, dict[str, tuple[str, ...]]] = {}
        self._unresolved: Tracked[FactKey, UnresolvedSanction] = Tracked()
        self._call_ins: dict[str, CallIn] = {}
        self._invited_to: dict[str, set[str]] = {}
        self._no_shows = NoShowsOnProbation()
        self._alerts: Tracked[str, Alert] = Tracked()
        self._touched: set[str] = set()

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
        return self._risks.risks_of(group_id)

    @property
    def alerts(self) -> Mapping[str, Alert]:
        return self._alerts.current

    @property
    def unresolved(self) -> Mapping[FactKey, UnresolvedSanction]:
        return self._unresolved.current

    def derived(self) -> Derived:
        """A snapshot in the form `derive` gives (materialises every group: for replay and tests)."""
        groups = {g: self._groups[g].state() for g in sorted(self._groups) if not self._groups[g].is_empty()}
        return Derived(groups, dict(sorted(self._unresolved.current.items())),
                       dict(sorted(self._alerts.current.items())))

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
            put(self._registrations, data.group_id, fact, on)
            self._group(data.group_id).set_registration(
                registered_name(self._registrations.get(data.group_id, {}).values()))
        elif isinstance(data, WarningDelivered):
            group = self._group(data.group_id)
            group.add_warning(fact) if on else group.remove_warning(fact)
        elif isinstance(data, IncidentReported | IncidentAttributed):
            index = self._reports if isinstance(data, IncidentReported) else self._attributions
            put(index, data.incident_id, fact, on)
            self._refresh_incident(data.incident_id)
        elif isinstance(data, MembershipAssessed):
            self._memberships.setdefault(data.person_ref, Memberships()).put(fact, data, on)
            keys = self._person_sanctions.get(data.person_ref, [])
            lo = bisect.bisect_left(keys, data.valid_from, key=lambda k: k[0])
            hi = bisect.bisect_left(keys, data.valid_until, key=lambda k: k[0])
            for key in keys[lo:hi]:
                self._resolve(self._person_sanction[key])
        elif isinstance(data, SanctionRecorded):
            self._switch_sanction(fact, data, on)
            if (person := probation_person(data)) is not None:
                for call_in_id in self._no_shows.put_probation(person, fact.time, on):
                    self._refresh_no_shows(call_in_id)
        elif isinstance(data, CallInScheduled | CallInHeld):
            call_in = self._call_ins.setdefault(data.call_in_id, CallIn())
            put_flat(call_in.schedules if isinstance(data, CallInScheduled) else call_in.helds, fact, on)
            self._refresh_call_in(data.call_in_id)
            if isinstance(data, CallInHeld):
                absent = [entry.person_ref for entry in data.no_shows] if on else []
                self._no_shows.add_no_shows(data.call_in_id, absent)
                self._refresh_no_shows(data.call_in_id)
        elif isinstance(data, GroupRelationRecorded | GroupRelationEnded):
            for incident_id in self._risks.put_relation(frozenset((data.group_id, data.other_group_id)),
                                                        fact, on):
                self._refresh_retaliation(incident_id)
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
        self._unresolved.set(fact.key, None)

    def _resolve(self, fact: Fact) -> None:
        """Rule 4 for a sanction naming only a person: every group with a membership valid then and
        not ended by a `left_group` exit milestone."""
        assert isinstance(fact.data, SanctionRecorded)
        person = fact.data.person_ref or ""
        memberships = self._memberships.get(person)
        new = {} if memberships is None else memberships.groups_at(
            fact.time, lambda group_id: [order[0] for order in self._left.get((person, group_id), ())])
        old = self._resolution.get(fact.key, {})
        for group_id, ids in old.items():
            if new.get(group_id) != ids:
                self._group(group_id).remove_sanction(fact)
        for group_id, ids in new.items():
            if old.get(group_id) != ids:
                self._group(group_id).add_sanction(fact, ids)
        self._resolution[fact.key] = new
        self._unresolved.set(fact.key, None if new else UnresolvedSanction(
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
            for group_id in suspected_groups(old):
                self._group(group_id).remove_incident(old)
        if new is not None:
            self._incident[incident_id] = new
            for group_id in involved_groups(new):
                bisect.insort(self._violence.setdefault(group_id, []), (new.time, incident_id))
                self._violence_touched.add(group_id)
            for group_id in suspected_groups(new):
                self._group(group_id).add_incident(new)
        self._risks.set_victims(incident_id, old.victims if old is not None else (),
                                new.victims if new is not None else ())
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
            shown = presentations(self._call_ins, self._invited_to.get(group_id, ()))
            self._group(group_id).set_presentations(shown)

    def _refresh_no_shows(self, call_in_id: str) -> None:
        """Rule 9 for one call-in: its latest held report's no-shows on probation."""
        held = attendance_of(self._call_ins[call_in_id].helds.values())
        ended, started = self._no_shows.refresh(call_in_id, held)
        for group_id in ended:
            self._set_alert(AlertKind.NO_SHOW_ON_PROBATION, group_id, call_in_id, False)
        for group_id in started:
            self._set_alert(AlertKind.NO_SHOW_ON_PROBATION, group_id, call_in_id, True)

    def _refresh_retaliation(self, incident_id: str) -> None:
        ended, started = self._risks.refresh(incident_id, self._incident.get(incident_id))
        for group_id in ended:
            self._set_alert(AlertKind.RETALIATION_RISK, group_id, incident_id, False)
        for group_id in started:
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
        self._alerts.set(alert.alert_id, alert if holds else None)

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
        alerts = self._alerts.changes()
        raised = tuple(new for _, old, new in alerts if old is None and new is not None)
        withdrawn = tuple(AlertWithdrawal.of(old) for _, old, new in alerts
                          if old is not None and new is None)
        unresolved = {key: new for key, _, new in self._unresolved.changes()}
        update = Update(tuple(sorted(self._touched)), tuple(case_ids), tuple(unwarned_ids),
                        tuple(baseline_ids), unresolved, AlertChanges(raised, withdrawn),
                        tuple(sorted(self._violence_touched)))
        self._touched = set()
        self._violence_touched = set()
        return update
