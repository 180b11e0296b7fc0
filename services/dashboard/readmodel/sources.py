"""What the dashboard keeps of the source topics (`incidents`, `notifications`): the facts its
statistics and briefs need, with copies counted once and retractions applied.

The processor's group states say which incident is a case of which group; they do not carry an
incident's kind, area or casualties, a call-in's invitation list, or the support offered to a group,
and those are what the statistics and the call-in brief show. The choice of which report and which
attribution count is the rules' own (`rules.current_incident`), not re-implemented here.

Only the types below are kept. Support offers, acceptances and exit milestones (both versions) are
kept for the exit programme (`exit_programme.py`). Membership assessments (with their person
references and evidence) and group relations are kept for the group audit (`group_audit.py`);
person references and evidence are shown to the roles that may see them only, and nothing here
logs them. They are kept as Kafka holds them (pseudonyms, evidence sealed) with a membership's
`sealed` attribute, which `services/dashboard/reveal.py` opens for those roles. Of the sanctions,
only probation actions naming a person are kept (with their time): what the call-in page needs
to say who is on probation (rule 9, `probation.py`); every other sanction is skipped before it is
parsed. The coordinators' triage of alerts (`gvi.alert.triaged.v1`,
`triage.py`) is kept by alert id, for the alerts page and the board.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.contracts import RETRACTION_TYPE
from services.contracts.events import (
    AlertTriaged,
    CallInHeld,
    CallInScheduled,
    ExitMilestone,
    ExitMilestoneV2,
    GroupRegistered,
    GroupRelationEnded,
    GroupRelationRecorded,
    IncidentAttributed,
    IncidentReported,
    MembershipAssessed,
    SanctionRecorded,
    SupportAccepted,
    SupportOffered,
    WarningDelivered,
)
from services.contracts.personal import person_slots
from services.dashboard.readmodel.triage import TriageView, triage_of
from services.followthrough import (
    Fact,
    FactKey,
    attendance_of,
    current_incident,
    invited_groups,
    latest,
    preferred,
    probation_person,
    retraction_target,
)

__all__ = ["KEPT_TYPES", "CallInView", "Domain", "IncidentView", "SourceFacts", "SupportEntry",
           "WarningToPerson"]

KEPT_TYPES = frozenset({
    "gvi.incident.reported.v1", "gvi.incident.attributed.v1", "gvi.callin.scheduled.v1",
    "gvi.callin.held.v1", "gvi.support.offered.v1", "gvi.support.accepted.v1", "gvi.exit.milestone.v1",
    "gvi.exit.milestone.v2",
    "gvi.group.registered.v1", "gvi.warning.delivered.v1", "gvi.membership.assessed.v1",
    "gvi.group.relation.recorded.v1", "gvi.group.relation.ended.v1", "gvi.sanction.recorded.v1",
    "gvi.alert.triaged.v1", RETRACTION_TYPE,
})
"""The event types the dashboard reads; any other record of a source topic is skipped unparsed."""

_TEXT_TYPES = frozenset(t for t in KEPT_TYPES if any(slot.texts for slot in person_slots(t)))
"""The kept types with personal text (sealed by the intake): their `sealed` attribute is kept."""


class Domain(StrEnum):
    """What a source fact changed, so the live pages know what to refresh."""

    INCIDENTS = "incidents"
    CALL_INS = "call_ins"
    SUPPORT = "support"
    GROUPS = "groups"
    WARNINGS = "warnings"
    MEMBERSHIPS = "memberships"
    RELATIONS = "relations"
    PROBATION = "probation"
    """Probation actions naming a person: the entity is the person reference."""
    TRIAGE = "triage"
    """The coordinators' triage of an alert: the entity is the alert id."""


_DOMAIN_OF: dict[type[object], Domain] = {
    IncidentReported: Domain.INCIDENTS, IncidentAttributed: Domain.INCIDENTS,
    CallInScheduled: Domain.CALL_INS, CallInHeld: Domain.CALL_INS,
    SupportOffered: Domain.SUPPORT, SupportAccepted: Domain.SUPPORT, ExitMilestone: Domain.SUPPORT,
    ExitMilestoneV2: Domain.SUPPORT,
    GroupRegistered: Domain.GROUPS, WarningDelivered: Domain.WARNINGS,
    MembershipAssessed: Domain.MEMBERSHIPS, GroupRelationRecorded: Domain.RELATIONS,
    GroupRelationEnded: Domain.RELATIONS, AlertTriaged: Domain.TRIAGE,
}


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident as it currently counts: the report's time, kind, area and casualties, with the
    latest attribution's `confirmed` and groups (rule 2)."""

    incident_id: str
    time: datetime
    kind: str
    area: str
    confirmed: bool
    killed: int
    injured: int
    suspected: frozenset[str]
    victims: frozenset[str]


@dataclass(frozen=True, slots=True)
class CallInView:
    call_in_id: str
    scheduled_for: datetime | None
    location: str | None
    invited: frozenset[str]
    held_time: datetime | None
    """The time of the latest `held` event, or None while it has not been held."""


@dataclass(frozen=True, slots=True)
class SupportEntry:
    group_id: str
    service: str
    time: datetime
    accepted: bool
    person_ref: str | None
    erased: bool = False
    """Shown to a reader only: the person's key was shredded (`person_ref` is then empty)."""


@dataclass(frozen=True, slots=True)
class WarningToPerson:
    event_id: str
    time: datetime
    channel: str
    person_ref: str
    erased: bool = False
    """As `SupportEntry.erased`."""


def _entity(fact: Fact) -> tuple[Domain, str] | None:
    data = fact.data
    if isinstance(data, SanctionRecorded):
        person = probation_person(data)
        return (Domain.PROBATION, person) if person is not None else None
    domain = _DOMAIN_OF.get(type(data))
    if domain is None:
        return None
    match data:
        case IncidentReported() | IncidentAttributed():
            return domain, data.incident_id
        case CallInScheduled() | CallInHeld():
            return domain, data.call_in_id
        case AlertTriaged():
            return domain, data.alert_id
        case (SupportOffered() | SupportAccepted() | ExitMilestone() | ExitMilestoneV2() | GroupRegistered()
              | WarningDelivered()
              | MembershipAssessed() | GroupRelationRecorded() | GroupRelationEnded()):
            return domain, data.group_id
    return None  # pragma: no cover  (every kept type is matched above)


class SourceFacts:
    """Facts by (source, id), indexed by the entity they are about; retractions applied whichever
    arrives first. `add` says what changed; the views are computed on demand and cached."""

    def __init__(self) -> None:
        self._facts: dict[FactKey, Fact] = {}
        self._retracted: set[FactKey] = set()
        self._by_entity: dict[tuple[Domain, str], set[FactKey]] = defaultdict(set)
        self._incidents: dict[str, IncidentView | None] = {}
        self._sealed: dict[FactKey, str] = {}
        self.version = 0

    def add(self, fact: Fact, sealed: str | None = None) -> set[tuple[Domain, str]]:
        """Take one fact; return the (domain, entity id) pairs whose view it may have changed.
        `sealed`: the event's `sealed` attribute, kept for the types with personal text (the
        evidence of a membership assessment), which a reader who may see it has opened."""
        target = retraction_target(fact)
        if target is not None:
            if target in self._retracted:
                return set()
            self._retracted.add(target)
            known = self._facts.get(target)
            return self._changed(_entity(known)) if known is not None else set()
        entity = _entity(fact)
        if entity is None:
            return set()
        previous = self._facts.get(fact.key)
        chosen = fact if previous is None else preferred(previous, fact)
        if chosen is previous:
            return set()
        self._facts[fact.key] = chosen
        self._by_entity[entity].add(fact.key)
        if sealed is not None and fact.type in _TEXT_TYPES:
            self._sealed[fact.key] = sealed
        else:
            self._sealed.pop(fact.key, None)
        return set() if fact.key in self._retracted else self._changed(entity)

    def _changed(self, entity: tuple[Domain, str] | None) -> set[tuple[Domain, str]]:
        if entity is None:
            return set()
        self.version += 1
        if entity[0] is Domain.INCIDENTS:
            self._incidents.pop(entity[1], None)
        return {entity}

    def _effective(self, domain: Domain, entity_id: str) -> list[Fact]:
        keys = self._by_entity.get((domain, entity_id), set())
        return sorted((self._facts[k] for k in keys if k not in self._retracted), key=lambda f: f.order)

    def _ids(self, domain: Domain) -> list[str]:
        return sorted(entity_id for (d, entity_id) in self._by_entity if d is domain)

    def incident(self, incident_id: str) -> IncidentView | None:
        if incident_id not in self._incidents:
            self._incidents[incident_id] = self._incident(incident_id)
        return self._incidents[incident_id]

    def _incident(self, incident_id: str) -> IncidentView | None:
        facts = self._effective(Domain.INCIDENTS, incident_id)
        reports = [f for f in facts if isinstance(f.data, IncidentReported)]
        current = current_incident(reports, [f for f in facts if isinstance(f.data, IncidentAttributed)])
        if current is None:
            return None
        report = next(f.data for f in reports
                      if f.id == current.report_id and isinstance(f.data, IncidentReported))
        return IncidentView(incident_id, current.time, report.kind.value, report.area, current.confirmed,
                            report.killed, report.injured, current.suspected, current.victims)

    def incidents(self) -> list[IncidentView]:
        return [view for i in self._ids(Domain.INCIDENTS) if (view := self.incident(i)) is not None]

    def call_in(self, call_in_id: str) -> CallInView | None:
        facts = self._effective(Domain.CALL_INS, call_in_id)
        schedule, invited = invited_groups(f for f in facts if isinstance(f.data, CallInScheduled))
        held = latest(f for f in facts if isinstance(f.data, CallInHeld))
        if schedule is None and held is None:
            return None
        data = schedule.data if schedule is not None else None
        return CallInView(call_in_id,
                          data.scheduled_for if isinstance(data, CallInScheduled) else None,
                          data.location if isinstance(data, CallInScheduled) else None,
                          invited, held.time if held is not None else None)

    def call_ins(self) -> list[CallInView]:
        return [view for i in self._ids(Domain.CALL_INS) if (view := self.call_in(i)) is not None]

    def support(self, group_id: str) -> list[SupportEntry]:
        out = []
        for fact in self._effective(Domain.SUPPORT, group_id):
            data = fact.data
            if isinstance(data, SupportOffered | SupportAccepted):
                out.append(SupportEntry(group_id, data.service, fact.time,
                                        isinstance(data, SupportAccepted), data.person_ref))
        return out

    def exit_programme_facts(self, group_id: str | None = None) -> list[Fact]:
        """The support offers, acceptances and exit milestones that count (person-level data), of
        one group or of every group, in (time, id, source) order."""
        groups = [group_id] if group_id is not None else self._ids(Domain.SUPPORT)
        return sorted((f for g in groups for f in self._effective(Domain.SUPPORT, g)), key=lambda f: f.order)

    def group_area(self, group_id: str) -> str | None:
        """The area of the group's latest registration (by time, then id), or None."""
        fact = latest(self._effective(Domain.GROUPS, group_id))
        return fact.data.area if fact is not None and isinstance(fact.data, GroupRegistered) else None

    def areas(self) -> list[str]:
        found = {view.area for view in self.incidents()}
        found |= {a for g in self._ids(Domain.GROUPS) if (a := self.group_area(g)) is not None}
        return sorted(found)

    def warnings_to_people(self, group_id: str) -> list[WarningToPerson]:
        """Warnings delivered to one person (person-level data: the analyst's view only)."""
        return [WarningToPerson(f.id, f.time, f.data.channel.value, f.data.person_ref)
                for f in self._effective(Domain.WARNINGS, group_id)
                if isinstance(f.data, WarningDelivered) and f.data.person_ref is not None]

    def memberships(self) -> list[Fact]:
        """Every membership assessment that counts (person-level data: the group audit's analyst
        view), in (time, id, source) order."""
        return sorted((f for g in self._ids(Domain.MEMBERSHIPS)
                       for f in self._effective(Domain.MEMBERSHIPS, g)
                       if isinstance(f.data, MembershipAssessed)), key=lambda f: f.order)

    def relations(self) -> list[Fact]:
        """Every relation event (recorded or ended) that counts, in (time, id, source) order."""
        return sorted((f for g in self._ids(Domain.RELATIONS)
                       for f in self._effective(Domain.RELATIONS, g)
                       if isinstance(f.data, GroupRelationRecorded | GroupRelationEnded)),
                      key=lambda f: f.order)

    def attendance(self, call_in_id: str) -> CallInHeld | None:
        """The call-in's attendance lists: those of its latest held report (rule 9), or None."""
        held = attendance_of(f for f in self._effective(Domain.CALL_INS, call_in_id)
                             if isinstance(f.data, CallInHeld))
        return held.data if held is not None and isinstance(held.data, CallInHeld) else None

    def probation_times(self, person_ref: str) -> list[datetime]:
        """The times of the probation actions naming the person, ascending (person-level data)."""
        return [f.time for f in self._effective(Domain.PROBATION, person_ref)]

    def triage(self, alert_id: str) -> TriageView | None:
        """The alert's triage as it stands (`triage.py`), or None while nobody has triaged it."""
        return triage_of(alert_id, self._effective(Domain.TRIAGE, alert_id))

    def sealed(self, key: FactKey) -> str | None:
        """The `sealed` attribute of the event of `key` as kept (see `add`), or None."""
        return self._sealed.get(key)

    def add_all(self, facts: Iterable[Fact]) -> None:
        for fact in facts:
            self.add(fact)
