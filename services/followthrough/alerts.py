"""Alerts: what the coordinators must notice, raised and withdrawn as the set of events changes.

The alert records, their ids and keys are the output contract (`services.contracts.alerts`); here
are the rules that decide when they hold. An alert is a pure function of the derived state, except
for two rules that also need the wall clock, passed in as `now`: `follow_through_stalled`
(`is_stalled`) and the expiry of `retaliation_risk` (`risk_expired`). When a late correction (a
re-attribution, a retraction) means an alert no longer holds, `diff_alerts` yields a withdrawal for
it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.contracts.alerts import Alert, AlertKind, AlertWithdrawal
from services.contracts.group_state import CaseStatus, GroupState

__all__ = [
    "DEFAULT_RISK_DAYS",
    "AlertChanges",
    "StalledCase",
    "diff_alerts",
    "group_alerts",
    "is_stalled",
    "no_show_alerts",
    "retaliation_alerts",
    "risk_expired",
    "stalled_alerts",
    "stalled_cases",
]


def group_alerts(state: GroupState) -> Iterator[Alert]:
    """`enforcement_triggered` for every case of the group, `unwarned_violence` for every confirmed
    incident it was suspected of while not warned."""
    for case in state.cases:
        yield Alert.of(AlertKind.ENFORCEMENT_TRIGGERED, state.group_id, case.incident_id)
    for incident_id in state.unwarned_incident_ids:
        yield Alert.of(AlertKind.UNWARNED_VIOLENCE, state.group_id, incident_id)


def retaliation_alerts(incident_id: str, at_risk_group_ids: Iterable[str]) -> Iterator[Alert]:
    """`retaliation_risk` for each group at risk after a confirmed incident with victim groups: the
    victim groups and every group in conflict with one of them."""
    for group_id in sorted(set(at_risk_group_ids)):
        yield Alert.of(AlertKind.RETALIATION_RISK, group_id, incident_id)


DEFAULT_RISK_DAYS = 90


def risk_expired(incident_time: datetime, latest_violence: datetime | None, now: datetime,
                 risk_days: int = DEFAULT_RISK_DAYS) -> bool:
    """The expiry rule of a `retaliation_risk` alert (group G, incident I): it lapses once
    `risk_days` or more have passed, as of `now` (the caller's clock), since the later of I and
    G's latest violence: the latest confirmed incident G is suspected of or a victim of
    (`Ledger.latest_violence`). New violence involving G renews every risk of G; violence dated
    before I changes nothing (I's own time is the start)."""
    start = incident_time if latest_violence is None else max(incident_time, latest_violence)
    return now - start >= timedelta(days=risk_days)


def no_show_alerts(call_in_id: str, group_ids: Iterable[str]) -> Iterator[Alert]:
    """`no_show_on_probation` for each group with a member on probation among the call-in's
    no-shows (`probation.no_show_groups`). The alert's `incident_id` holds the call-in's id: the
    alert's subject, in the field every alert has, so the record's shape stays that of every alert."""
    for group_id in sorted(set(group_ids)):
        yield Alert.of(AlertKind.NO_SHOW_ON_PROBATION, group_id, call_in_id)


@dataclass(frozen=True, slots=True)
class AlertChanges:
    raised: tuple[Alert, ...]
    withdrawn: tuple[AlertWithdrawal, ...]

    def __bool__(self) -> bool:
        return bool(self.raised or self.withdrawn)


def diff_alerts(before: Mapping[str, Alert], after: Mapping[str, Alert]) -> AlertChanges:
    """Alerts in `after` and not in `before` are raised; those only in `before` are withdrawn
    (both sorted by id, so the output is deterministic)."""
    raised = tuple(after[i] for i in sorted(after.keys() - before.keys()))
    withdrawn = tuple(AlertWithdrawal.of(before[i]) for i in sorted(before.keys() - after.keys()))
    return AlertChanges(raised, withdrawn)


@dataclass(frozen=True, slots=True)
class StalledCase:
    group_id: str
    incident_id: str
    incident_time: datetime
    days_since_incident: float


def is_stalled(incident_time: datetime, now: datetime, stall_days: int = 14) -> bool:
    """The stall rule, for a case still awaiting its first sanction: `stall_days` or more have
    passed since its incident, as of `now` (the caller's clock; nothing here reads one)."""
    return now - incident_time >= timedelta(days=stall_days)


def stalled_cases(state: GroupState, now: datetime, stall_days: int = 14) -> list[StalledCase]:
    """The group's cases still awaiting their first sanction that `is_stalled`."""
    out = []
    for case in state.cases:
        if case.status is CaseStatus.AWAITING_SANCTION and is_stalled(case.incident_time, now, stall_days):
            days = (now - case.incident_time) / timedelta(days=1)
            out.append(StalledCase(state.group_id, case.incident_id, case.incident_time, round(days, 2)))
    return out


def stalled_alerts(state: GroupState, now: datetime, stall_days: int = 14) -> Iterator[Alert]:
    """`follow_through_stalled` for each stalled case; withdrawn (via `diff_alerts`) once a sanction
    is linked or the case goes away."""
    for stalled in stalled_cases(state, now, stall_days):
        yield Alert.of(AlertKind.FOLLOW_THROUGH_STALLED, stalled.group_id, stalled.incident_id)
