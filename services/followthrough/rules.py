"""The small rules (rule version 2) that both the reference `derive` and the incremental ledger use.

These are the choices that give each rule its meaning (which report and attribution count, when a
membership is valid, when a sanction is within the window, how a case and a group get their status),
kept in one place so the two evaluation strategies cannot disagree about them. How the strategies find
the facts to apply them to is theirs; the property test checks they agree.

Outputs are made with the records' own constructors, so every record the rules give is validated.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple

from services.contracts.events import (
    CallInScheduled,
    ExitMilestoneKind,
    ExitMilestoneV2,
    GroupRegistered,
    GroupRelationRecorded,
    IncidentAttributed,
    IncidentReported,
    MembershipAssessed,
    RelationKind,
    SanctionRecorded,
    WarningDelivered,
)
from services.contracts.group_state import (
    RULE_VERSION,
    CaseProvenance,
    CaseState,
    CaseStatus,
    GroupState,
    GroupStatus,
    GroupSummary,
    LinkRule,
    Presentation,
    ResolvedBy,
    SanctionLink,
    WarningEntry,
)
from services.followthrough.facts import Fact, OrderKey

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "Incident",
    "LinkTarget",
    "case_warning",
    "current_incident",
    "days_between",
    "group_set",
    "group_status",
    "in_conflict",
    "incident_of",
    "invited_groups",
    "involved_groups",
    "is_empty",
    "latest",
    "latest_violence",
    "left_group_of",
    "link_target",
    "make_case",
    "make_group_state",
    "make_group_summary",
    "make_link",
    "membership_counts_at",
    "membership_valid_at",
    "presenting_call_in",
    "registered_name",
    "relation_holding",
    "status_from_counts",
    "suspected_groups",
    "warning_entry",
    "within_window",
]

DEFAULT_WINDOW_DAYS = 365

_DAY_MICROSECONDS = 86_400_000_000
_ONE_MICROSECOND = timedelta(microseconds=1)


def days_between(start: datetime, end: datetime) -> float:
    """Days from `start` to `end` as a fraction, rounded half-up (away from zero) to 2 decimals (1 day
    6 hours is 1.25). Exact integer arithmetic on whole microseconds, so the same instants always
    give the same number: the float nearest the rounded hundredths, as `Decimal.quantize(...,
    ROUND_HALF_UP)` gives (tested against it). Negative when `end` precedes `start`."""
    micro = (end - start) // _ONE_MICROSECOND
    hundredths, rest = divmod(abs(micro) * 100, _DAY_MICROSECONDS)
    if 2 * rest >= _DAY_MICROSECONDS:
        hundredths += 1
    return (hundredths if micro >= 0 else -hundredths) / 100


def _order(fact: Fact) -> OrderKey:
    return fact.order


def latest(facts: Iterable[Fact]) -> Fact | None:
    """The latest fact by (time, id, source), or None."""
    return max(facts, key=_order, default=None)


def relation_holding(relations: Iterable[Fact]) -> Fact | None:
    """The relation recorded that holds between two groups, from the relation events about the pair
    (recorded or ended): the latest one, or None if it ended the relation (or there is none)."""
    fact = latest(relations)
    return fact if fact is not None and isinstance(fact.data, GroupRelationRecorded) else None


def in_conflict(relations: Iterable[Fact]) -> bool:
    """Whether two groups are in conflict: the relation that holds between them is a conflict."""
    holding = relation_holding(relations)
    return holding is not None and isinstance(holding.data, GroupRelationRecorded) \
        and holding.data.relation is RelationKind.CONFLICT


class Incident(NamedTuple):
    """An incident as currently attributed (rule 2): the report's time, the latest review's groups."""

    incident_id: str
    time: datetime
    report_id: str
    attribution_id: str | None
    confirmed: bool
    suspected: frozenset[str]
    victims: frozenset[str]


def current_incident(reports: Iterable[Fact], attributions: Iterable[Fact]) -> Incident | None:
    """The incident's report (the first, by (time, id), should an incident be reported twice)
    replaced by its latest attribution (by (time, id)), whatever the attribution's time. No report
    (yet, or any more): no incident, so an attribution alone opens nothing."""
    report = min(reports, key=_order, default=None)
    if report is None:
        return None
    return incident_of(report, latest(attributions))


def incident_of(report: Fact, review: Fact | None) -> Incident:
    """Rule 2 once the incident's first report and latest attribution (if any) are chosen (see
    `current_incident`)."""
    assert isinstance(report.data, IncidentReported)
    source: IncidentReported | IncidentAttributed = report.data
    if review is not None:
        assert isinstance(review.data, IncidentAttributed)
        source = review.data
    return Incident(report.data.incident_id, report.time, report.id,
                    review.id if review is not None else None, source.confirmed,
                    group_set(source.suspected_group_ids), group_set(source.victim_group_ids))


def involved_groups(incident: Incident) -> frozenset[str]:
    """The groups a confirmed incident involves in violence: those suspected of it and its victim
    groups (none for an unconfirmed one). New violence involving a group renews its retaliation
    risks (`alerts.risk_expired`)."""
    return incident.suspected | incident.victims if incident.confirmed else frozenset()


def suspected_groups(incident: Incident) -> frozenset[str]:
    """Rule 3: the groups a confirmed incident may be a violation by, those suspected of it (none for
    an unconfirmed one). For each, the incident is a case or unwarned violence (`case_warning`)."""
    return incident.suspected if incident.confirmed else frozenset()


def _fact_time(fact: Fact) -> datetime:
    return fact.time


def case_warning(incident_time: datetime, warnings: Sequence[Fact]) -> Fact | None:
    """Rule 3, the one decision both evaluators make for an incident of the group (`suspected_groups`):
    it is a case if the group was warned at or before its time, and the case's warning is the latest
    such warning (of those at the same time, the last in (time, id, source) order); None if the group
    was not yet warned then (unwarned violence). `warnings` are the group's, in (time, id, source)
    order."""
    at = bisect.bisect_right(warnings, incident_time, key=_fact_time) - 1  # the latest at or before
    return warnings[at] if at >= 0 else None


def latest_violence(incidents: Iterable[Incident]) -> dict[str, datetime]:
    """group -> the time of the latest confirmed incident involving it (`involved_groups`)."""
    out: dict[str, datetime] = {}
    for incident in incidents:
        for group_id in involved_groups(incident):
            if group_id not in out or out[group_id] < incident.time:
                out[group_id] = incident.time
    return out


@lru_cache(maxsize=65_536)
def group_set(group_ids: tuple[str, ...]) -> frozenset[str]:
    """The set of `group_ids`, one shared object per distinct tuple: a frozenset takes 216 bytes
    even for one group, and a log of hundreds of thousands of incidents names the same few."""
    return frozenset(group_ids)


def registered_name(registrations: Iterable[Fact]) -> tuple[str | None, str | None]:
    """(name, registration event id) from the latest registration by (time, id); (None, None)."""
    fact = latest(registrations)
    if fact is None:
        return None, None
    assert isinstance(fact.data, GroupRegistered)
    return fact.data.name, fact.id


def invited_groups(schedules: Iterable[Fact]) -> tuple[Fact | None, frozenset[str]]:
    """A call-in's invitation list: from its latest `scheduled` event by (time, id) (a re-scheduling
    replaces the list)."""
    fact = latest(schedules)
    if fact is None:
        return None, frozenset()
    assert isinstance(fact.data, CallInScheduled)
    return fact, frozenset(fact.data.invited_group_ids)


def membership_valid_at(membership: MembershipAssessed, time: datetime) -> bool:
    """Rule 4: valid from `valid_from` (inclusive) until `valid_until` (exclusive)."""
    return membership.valid_from <= time < membership.valid_until


def left_group_of(fact: Fact) -> tuple[str, str] | None:
    """Rule 4 (rule version 2): the (person, group) whose membership a `gvi.exit.milestone.v2` of
    milestone `left_group` ends; None for any other fact (a v1 milestone's free text never ends one)."""
    data = fact.data
    if isinstance(data, ExitMilestoneV2) and data.milestone is ExitMilestoneKind.LEFT_GROUP:
        return data.person_ref, data.group_id
    return None


def membership_counts_at(membership: MembershipAssessed, time: datetime, left_at: Iterable[datetime]) -> bool:
    """Rule 4: the assessment is valid at `time` and not ended by the person leaving the group: no
    `left_group` milestone of the same person and group (`left_at`, their times) at or after its
    `valid_from` and at or before `time`. An assessment that starts after the milestone (the
    person was assessed a member again) counts."""
    return membership_valid_at(membership, time) and not any(
        membership.valid_from <= left <= time for left in left_at)


def within_window(incident_time: datetime, sanction_time: datetime, window_days: int) -> bool:
    """Rule 5: the incident is at or before the sanction and at most `window_days` days earlier."""
    return incident_time <= sanction_time and sanction_time - incident_time <= timedelta(days=window_days)


LinkTarget = tuple[str | None, LinkRule]
"""Where rule 5 links a sanction: (incident id of the case, rule), or (None, `LinkRule.BASELINE`)."""


def _case_time(case: tuple[datetime, str]) -> datetime:
    return case[0]


def link_target(named: str | None, is_case: Callable[[str], bool], cases: Sequence[tuple[datetime, str]],
                sanction_time: datetime, window_days: int, first: int = 0) -> LinkTarget:
    """Rule 5, the one decision both evaluators make: the case of the incident the sanction names,
    if that incident is a case of the group (`is_case`); else the latest case at or before the
    sanction, if within the window; else the baseline. `cases[first:]` are the group's cases as
    (incident time, incident id), sorted (what comes before `first` is not a case)."""
    if named is not None and is_case(named):
        return named, LinkRule.EXPLICIT_INCIDENT
    at = bisect.bisect_right(cases, sanction_time, lo=first, key=_case_time) - 1  # the latest at or before
    if at >= first and within_window(cases[at][0], sanction_time, window_days):
        return cases[at][1], LinkRule.LATEST_CASE_WITHIN_WINDOW
    return None, LinkRule.BASELINE


def make_link(sanction: Fact, rule: LinkRule, membership_ids: Sequence[str]) -> SanctionLink:
    data = sanction.data
    assert isinstance(data, SanctionRecorded)
    return SanctionLink(
        sanction_id=sanction.id, source=sanction.source, agency=sanction.agency, kind=data.kind.value,
        time=sanction.time, rule=rule,
        resolved_by=ResolvedBy.MEMBERSHIP if membership_ids else ResolvedBy.NAMED_GROUP,
        membership_ids=tuple(sorted(membership_ids)))


def _held_time(presentation: Presentation) -> datetime:
    return presentation.held_time


def presenting_call_in(links: Sequence[SanctionLink],
                       presentations: Sequence[Presentation]) -> Presentation | None:
    """Rule 6, the one decision both evaluators make: the call-in that presents a case, the first of
    the group's held call-ins (`presentations`, in held-time order) held strictly after the case's
    first sanction (`links`, in time order); None if it has no sanction or none was held since."""
    if not links:
        return None
    at = bisect.bisect_right(presentations, links[0].time, key=_held_time)
    return presentations[at] if at < len(presentations) else None


def make_case(incident: Incident, warning: Fact, links: Sequence[SanctionLink],
              presentation: Presentation | None) -> CaseState:
    """A case from its parts; `links` in (time, id, source) order, `presentation` the first held
    call-in after the first link (None if none)."""
    first = links[0].time if links else None
    status = CaseStatus.AWAITING_SANCTION
    if first is not None:
        status = CaseStatus.PRESENTED if presentation is not None else CaseStatus.SANCTIONED
    return CaseState(
        incident_id=incident.incident_id, incident_time=incident.time, warning_id=warning.id,
        status=status, links=tuple(links), sanction_ids=tuple(sorted(link.sanction_id for link in links)),
        first_sanction_time=first,
        days_to_first_sanction=days_between(incident.time, first) if first is not None else None,
        provenance=CaseProvenance(report_id=incident.report_id, attribution_id=incident.attribution_id,
                                  warning_id=warning.id, presented_by=presentation))


def group_status(warned: bool, cases: Iterable[CaseState]) -> GroupStatus:
    """Rule 7."""
    return status_from_counts(warned, Counter(case.status for case in cases))


def status_from_counts(warned: bool, counts: Mapping[CaseStatus, int]) -> GroupStatus:
    """Rule 7, from the number of the group's cases in each status."""
    if not warned:
        return GroupStatus.UNWARNED
    total = sum(counts.values())
    if not total:
        return GroupStatus.WARNED
    if counts.get(CaseStatus.AWAITING_SANCTION, 0):
        return GroupStatus.AWAITING_SANCTION
    if counts.get(CaseStatus.PRESENTED, 0) == total:
        return GroupStatus.PRESENTED
    return GroupStatus.SANCTIONED


def warning_entry(fact: Fact) -> WarningEntry:
    """How a warning appears in its group's state."""
    assert isinstance(fact.data, WarningDelivered)
    return WarningEntry(event_id=fact.id, channel=fact.data.channel.value, time=fact.time)


def _warning_entries(warnings: Sequence[Fact]) -> tuple[WarningEntry, ...]:
    return tuple(warning_entry(fact) for fact in warnings)


def make_group_summary(group_id: str, registration: tuple[str | None, str | None],
                       warnings: tuple[WarningEntry, ...], counts: Mapping[CaseStatus, int],
                       last_incident: tuple[datetime, str] | None) -> GroupSummary:
    """A group's summary record: `warnings` (see `warning_entry`) in (time, id, source) order of
    their events, `counts` the number of its cases in each status, `last_incident` its latest
    confirmed incident as (time, id)."""
    return GroupSummary(
        group_id=group_id, name=registration[0], registration_id=registration[1],
        status=status_from_counts(bool(warnings), counts),
        warned_since=warnings[0].time if warnings else None, warnings=warnings,
        case_count=sum(counts.values()), open_case_count=counts.get(CaseStatus.AWAITING_SANCTION, 0),
        last_incident_id=last_incident[1] if last_incident else None,
        last_incident_time=last_incident[0] if last_incident else None, rule_version=RULE_VERSION)


def make_group_state(group_id: str, registration: tuple[str | None, str | None], warnings: Sequence[Fact],
                     cases: Sequence[CaseState], unwarned_incident_ids: Iterable[str],
                     baseline_links: Sequence[SanctionLink]) -> GroupState:
    """A group's state from its parts: `warnings` in (time, id, source) order, `cases` in (incident
    time, incident id) order, `baseline_links` in (time, id, source) order."""
    return GroupState(
        group_id=group_id, name=registration[0], registration_id=registration[1],
        status=group_status(bool(warnings), cases),
        warned_since=warnings[0].time if warnings else None, warnings=_warning_entries(warnings),
        cases=tuple(cases), unwarned_incident_ids=tuple(sorted(unwarned_incident_ids)),
        baseline_links=tuple(baseline_links),
        baseline_sanction_ids=tuple(sorted(link.sanction_id for link in baseline_links)),
        rule_version=RULE_VERSION)


def is_empty(state: GroupState) -> bool:
    """A group with nothing to show has no state (a registration alone is something to show)."""
    return not (state.registration_id or state.warnings or state.cases or state.unwarned_incident_ids
                or state.baseline_links)
