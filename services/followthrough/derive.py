"""The reference implementation: every group's state from the *set* of events, computed directly.

`derive` reads the rules as literally as possible and recomputes everything, so it is the yardstick
the incremental `Ledger` is tested against, and what the replay tool's output must equal. It depends
on the set of events only: copies of one (source, id) count once, arrival order is irrelevant, and a
retraction removes its target whether it comes before or after it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, TypeVar, cast

from services.contracts import RETRACTION_TYPE, CloudEvent, canonical_json
from services.contracts.alerts import Alert
from services.contracts.events import (
    CallInHeld,
    CallInScheduled,
    ExitMilestoneV2,
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
    GroupState,
    Presentation,
    SanctionLink,
    UnresolvedSanction,
)
from services.followthrough.alerts import (
    DEFAULT_RISK_DAYS,
    group_alerts,
    no_show_alerts,
    retaliation_alerts,
    risk_expired,
)
from services.followthrough.facts import Fact, FactKey, OrderKey, as_fact, preferred, retraction_target
from services.followthrough.probation import attendance_of, no_show_groups, probation_person
from services.followthrough.rules import (
    DEFAULT_WINDOW_DAYS,
    Incident,
    case_warning,
    in_conflict,
    incident_of,
    invited_groups,
    is_empty,
    latest_violence,
    left_group_of,
    link_target,
    make_case,
    make_group_state,
    make_link,
    membership_counts_at,
    presenting_call_in,
    registered_name,
    suspected_groups,
)

__all__ = ["Derived", "Inputs", "by_data_type", "current_incidents", "derive", "effective_facts",
           "expired_risks", "gather", "joined", "violence"]


@dataclass(frozen=True, slots=True)
class Derived:
    """The rules' whole output for a set of events."""

    groups: Mapping[str, GroupState]
    unresolved: Mapping[FactKey, UnresolvedSanction]
    alerts: Mapping[str, Alert]

    def to_dict(self) -> dict[str, Any]:
        return {"groups": {g: s.model_dump(mode="json") for g, s in self.groups.items()},
                "unresolved": [self.unresolved[k].model_dump(mode="json") for k in sorted(self.unresolved)],
                "alerts": {k: a.model_dump(mode="json") for k, a in self.alerts.items()}}

    def to_json(self) -> bytes:
        return canonical_json(self.to_dict())


def effective_facts(events: Iterable[CloudEvent | Fact]) -> list[Fact]:
    """The events that count, in (time, id, source) order: one copy per (source, id), retractions
    applied (only to the retracting agency's own events), retractions themselves left out."""
    chosen: dict[FactKey, Fact] = {}
    for item in events:
        fact = as_fact(item)
        prev = chosen.get(fact.key)
        chosen[fact.key] = fact if prev is None else preferred(prev, fact)
    retracted = {target for fact in chosen.values() if (target := retraction_target(fact)) is not None}
    kept = [fact for key, fact in chosen.items() if fact.type != RETRACTION_TYPE and key not in retracted]
    kept.sort(key=_order)
    return kept


def _order(fact: Fact) -> OrderKey:
    return fact.order


def violence(events: Iterable[CloudEvent | Fact]) -> dict[str, datetime]:
    """group -> the time of its latest violence (`rules.latest_violence`), from the set of `events`:
    what renews a group's retaliation risks."""
    found = latest_violence(joined(by_data_type(effective_facts(events))).incidents.values())
    return dict(sorted(found.items()))


def expired_risks(events: Iterable[CloudEvent | Fact], now: datetime, *,
                  risk_days: int = DEFAULT_RISK_DAYS) -> list[str]:
    """The ids (sorted) of the `retaliation_risk` alerts that `derive` gives for the set of `events`
    and that have expired by `now` (`risk_expired`): what the processor, whose clock read `now`,
    has withdrawn. `derive` itself, like the replay, judges no clock and keeps them."""
    inputs = joined(by_data_type(effective_facts(events)))
    renewed = latest_violence(inputs.incidents.values())
    return sorted(a.alert_id for a in _retaliation_alerts(inputs) if risk_expired(
        inputs.incidents[a.incident_id].time, renewed.get(a.group_id), now, risk_days))


def _retaliation_alerts(inputs: Inputs) -> Iterator[Alert]:
    conflicts = _conflicts(inputs.relations)
    for inc in inputs.incidents.values():
        if inc.confirmed and inc.victims:
            at_risk = set(inc.victims).union(*(conflicts.get(v, set()) for v in inc.victims))
            yield from retaliation_alerts(inc.incident_id, at_risk)


def derive(events: Iterable[CloudEvent | Fact], *, window_days: int = DEFAULT_WINDOW_DAYS,
           alerts: bool = True) -> Derived:
    """Every group's state, the unresolved sanctions and the alerts that hold (except the clock's
    `follow_through_stalled`; every `retaliation_risk`, expired or not: see `expired_risks`), from
    the set of `events`. With `alerts=False` the alerts are left
    out (an empty mapping): what the replay tool needs, at a quarter less of the cost."""
    by_type = by_data_type(effective_facts(events))
    inputs = joined(by_type)
    groups = dict(_states(inputs, window_days))
    found: dict[str, Alert] = {}
    if alerts:
        found = {a.alert_id: a for state in groups.values() for a in group_alerts(state)}
        found.update((a.alert_id, a) for a in _retaliation_alerts(inputs))
        found.update((a.alert_id, a) for a in _no_show_alerts(by_type))
    unresolved = {f.key: _unresolved(f) for f in inputs.unresolved}
    return Derived(groups, dict(sorted(unresolved.items())), dict(sorted(found.items())))



def group_states(events: Iterable[CloudEvent | Fact], *,
                 window_days: int = DEFAULT_WINDOW_DAYS) -> Iterator[GroupState]:
    """`derive(events).groups.values()`, one group's state at a time in group-id order, so that only
    one is held at once (the replay's states document of a year of a city's log)."""
    inputs = gather(events)
    del events  # what does not count (copies, retracted events) can go
    for _, state in _states(inputs, window_days):
        yield state


def _states(inputs: Inputs, window_days: int) -> Iterator[tuple[str, GroupState]]:
    for group_id in inputs.group_ids():
        state = inputs.group_state(group_id, window_days)
        if not is_empty(state):
            yield group_id, state


def _unresolved(sanction: Fact) -> UnresolvedSanction:
    s = _data(sanction, SanctionRecorded)
    return UnresolvedSanction(sanction_id=sanction.id, source=sanction.source, time=sanction.time,
                              kind=s.kind.value, incident_id=s.incident_id)


@dataclass(slots=True)
class Inputs:
    """What `derive` gathers from the set of events before it computes any group: each group's
    registrations, warnings, confirmed incidents, sanctions (with the memberships that resolved
    them) and presentations. `group_state` of one group depends on nothing but these, so groups can
    be computed in any order, or apart (the replay tool computes them in several processes)."""

    registrations: dict[str, list[Fact]]
    warnings: dict[str, list[Fact]]
    suspected: dict[str, list[Incident]]
    sanctions: dict[str, list[tuple[Fact, tuple[str, ...]]]]
    """Each group's sanctions with the memberships that resolved them, in (time, id, source) order."""
    presentations: dict[str, list[Presentation]]
    incidents: dict[str, Incident]
    unresolved: list[Fact]
    """The sanctions that resolve to no group (`derive` makes their `UnresolvedSanction` records)."""
    relations: list[Fact]

    def group_ids(self) -> list[str]:
        """Every group some event gives a state to (an empty one is left out by `derive`), sorted."""
        return sorted(set(self.registrations) | set(self.warnings) | set(self.suspected)
                      | set(self.sanctions))

    def group_state(self, group_id: str, window_days: int = DEFAULT_WINDOW_DAYS) -> GroupState:
        return _group_state(group_id, self.registrations.get(group_id, []), self.warnings.get(group_id, []),
                            self.suspected.get(group_id, []), self.sanctions.get(group_id, []),
                            self.presentations.get(group_id, []), window_days)


def gather(events: Iterable[CloudEvent | Fact]) -> Inputs:
    """The first half of `derive`: the effective facts sorted out by group (rules 2 and 4 applied:
    each incident as currently attributed, each sanction resolved to its groups)."""
    return joined(by_data_type(effective_facts(events)))


def by_data_type(facts: Iterable[Fact]) -> dict[type[Any], list[Fact]]:
    """`facts` sorted by the type of their data, each list in the order given: each loop of
    `joined` then knows its type (`cast`, not a check per fact)."""
    by_type: dict[type[Any], list[Fact]] = defaultdict(list)
    for fact in facts:
        by_type[type(fact.data)].append(fact)
    return by_type


def joined(by_type: Mapping[type[Any], list[Fact]], memberships: Iterable[Fact] | None = None,
           incidents: dict[str, Incident] | None = None) -> Inputs:
    """`gather` from effective facts sorted out by `by_data_type` (each list in (time, id, source)
    order). Sanctions naming a person are resolved through `memberships` (by default the
    memberships among the facts, with the `left_group` exit milestones that end them, rule 4):
    the replay's shards each hold part of the log, and every shard resolves its sanctions through
    every shard's memberships and `left_group` milestones. `incidents`: the
    `current_incidents` of the facts' reports and attributions, if already made (a shard makes
    them first, and lets go of those facts before the others' memberships arrive)."""
    def of(model: type[Any]) -> list[Fact]:
        return by_type.get(model, [])

    registrations: dict[str, list[Fact]] = defaultdict(list)
    for f in of(GroupRegistered):
        registrations[cast(GroupRegistered, f.data).group_id].append(f)
    warnings: dict[str, list[Fact]] = defaultdict(list)
    for f in of(WarningDelivered):
        warnings[cast(WarningDelivered, f.data).group_id].append(f)
    if incidents is None:
        incidents = current_incidents(of(IncidentReported), of(IncidentAttributed))
    by_person: dict[str, list[Fact]] = defaultdict(list)
    left: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for f in [*of(MembershipAssessed), *of(ExitMilestoneV2)] if memberships is None else memberships:
        if isinstance(f.data, MembershipAssessed):
            by_person[f.data.person_ref].append(f)
        elif (pair := left_group_of(f)) is not None:
            left[pair].append(f.time)
    presentations = _held_call_ins(of(CallInScheduled), of(CallInHeld))

    sanctions: dict[str, list[tuple[Fact, tuple[str, ...]]]] = defaultdict(list)
    unresolved: list[Fact] = []
    for f in of(SanctionRecorded):
        s = cast(SanctionRecorded, f.data)
        if s.group_id is not None:
            sanctions[s.group_id].append((f, ()))
            continue
        resolved: dict[str, list[str]] = defaultdict(list)
        for m in by_person.get(s.person_ref or "", []):
            md = cast(MembershipAssessed, m.data)
            if membership_counts_at(md, f.time, left.get((md.person_ref, md.group_id), ())):
                resolved[md.group_id].append(m.id)
        for group_id, ids in resolved.items():
            sanctions[group_id].append((f, tuple(ids)))
        if not resolved:
            unresolved.append(f)

    suspected: dict[str, list[Incident]] = defaultdict(list)
    for inc in incidents.values():
        for group_id in suspected_groups(inc):
            suspected[group_id].append(inc)
    return Inputs(dict(registrations), dict(warnings), dict(suspected), dict(sanctions), dict(presentations),
                  incidents, unresolved, [*of(GroupRelationRecorded), *of(GroupRelationEnded)])


_INCIDENT_ORDER = attrgetter("time", "incident_id")


def _group_state(group_id: str, registrations: list[Fact], warnings: list[Fact], incidents: list[Incident],
                 sanctions: list[tuple[Fact, tuple[str, ...]]], presentations: list[Presentation],
                 window_days: int) -> GroupState:
    cases: dict[str, tuple[Incident, Fact]] = {}
    unwarned: list[str] = []
    for inc in sorted(incidents, key=_INCIDENT_ORDER):
        warning = case_warning(inc.time, warnings)  # `warnings` in (time, id, source) order
        if warning is None:
            unwarned.append(inc.incident_id)
        else:
            cases[inc.incident_id] = (inc, warning)
    case_keys = [(inc.time, inc.incident_id) for inc, _ in cases.values()]  # in (time, incident id) order

    linked: dict[str, list[SanctionLink]] = defaultdict(list)
    baseline: list[SanctionLink] = []
    for fact, membership_ids in sanctions:  # in (time, id, source) order, as `gather` keeps them
        named = cast(SanctionRecorded, fact.data).incident_id  # `joined` keeps only sanctions here
        incident_id, rule = link_target(named, cases.__contains__, case_keys, fact.time, window_days)
        link = make_link(fact, rule, membership_ids)
        (baseline if incident_id is None else linked[incident_id]).append(link)

    shows = sorted(presentations, key=lambda p: (p.held_time, p.held_id, p.call_in_id))
    case_states = []
    for incident_id, (inc, warning) in cases.items():
        links = linked[incident_id]
        case_states.append(make_case(inc, warning, links, presenting_call_in(links, shows)))
    return make_group_state(group_id, registered_name(registrations), warnings, case_states, unwarned,
                            baseline)


def current_incidents(reports: list[Fact], attributions: list[Fact]) -> dict[str, Incident]:
    """Rule 2 for every reported incident: effective reports and attributions, in (time, id,
    source) order, as each incident is currently attributed. (In that order an incident's first
    report is its earliest and its last attribution its latest: what `current_incident` chooses,
    found in one pass.)"""
    first: dict[str, Fact] = {}
    for f in reports:
        first.setdefault(cast(IncidentReported, f.data).incident_id, f)
    last: dict[str, Fact] = {}
    for f in attributions:
        last[cast(IncidentAttributed, f.data).incident_id] = f
    return {incident_id: incident_of(report, last.get(incident_id)) for incident_id, report in first.items()}


def _held_call_ins(schedules: list[Fact], helds: list[Fact]) -> dict[str, list[Presentation]]:
    """For each group, the held call-ins it was invited to."""
    scheduled: dict[str, list[Fact]] = defaultdict(list)
    for f in schedules:
        scheduled[_data(f, CallInScheduled).call_in_id].append(f)
    out: dict[str, list[Presentation]] = defaultdict(list)
    for held in helds:
        call_in_id = _data(held, CallInHeld).call_in_id
        schedule, invited = invited_groups(scheduled.get(call_in_id, []))
        if schedule is None:
            continue
        for group_id in invited:
            out[group_id].append(Presentation(call_in_id=call_in_id, held_id=held.id, held_time=held.time,
                                              scheduled_id=schedule.id))
    return out


def _no_show_alerts(by_type: Mapping[type[Any], list[Fact]]) -> list[Alert]:
    """Rule 9: `no_show_on_probation` for each call-in's latest held report."""
    actions: dict[str, list[datetime]] = defaultdict(list)
    for f in by_type.get(SanctionRecorded, []):  # in time order: each person's list is sorted
        if (person := probation_person(f.data)) is not None:
            actions[person].append(f.time)
    helds: dict[str, list[Fact]] = defaultdict(list)
    for f in by_type.get(CallInHeld, []):
        helds[_data(f, CallInHeld).call_in_id].append(f)
    no_actions: list[datetime] = []
    return [alert for call_in_id, facts in helds.items()
            for alert in no_show_alerts(call_in_id, no_show_groups(
                attendance_of(facts), lambda person: actions.get(person, no_actions)))]


def _conflicts(relations: list[Fact]) -> dict[str, set[str]]:
    """Groups in conflict, symmetric (`rules.in_conflict` of each pair's relation events)."""
    by_pair: dict[frozenset[str], list[Fact]] = defaultdict(list)
    for f in relations:
        r = cast(GroupRelationRecorded | GroupRelationEnded, f.data)
        by_pair[frozenset((r.group_id, r.other_group_id))].append(f)
    out: dict[str, set[str]] = defaultdict(set)
    for pair, facts in by_pair.items():
        if in_conflict(facts):
            a, b = sorted(pair)
            out[a].add(b)
            out[b].add(a)
    return out


_T = TypeVar("_T")


def _data(fact: Fact, model: type[_T]) -> _T:
    assert isinstance(fact.data, model)
    return fact.data

