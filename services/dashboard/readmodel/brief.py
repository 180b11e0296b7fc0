"""The call-in brief: what the partnership shows at a call-in, group by group. Anonymised by
construction: it is assembled only from values that cannot hold a person reference (group states,
incident kinds and areas, sanction kinds and agencies, support services and counts), so no person
reference can reach it whatever the events say.

For each group invited to the call-in (its latest schedule), as of the call-in (its held time, else
its scheduled time; everything if neither is known):

* the warnings given (channel, date) up to then;
* the violations (cases) since the previous held call-in that invited the group, or else since its
  first warning, each with the sanctions delivered for it (kind, agency, date, days after the
  incident);
* other enforcement in that period: sanctions linked to no violation (the group's baseline);
* support offered and accepted in that period, counted per service;
* once the call-in is held: how many of the group's people came and how many were summoned but stayed
  away (the latest held report's lists, counted per group; someone listed as both counts as a no-show,
  as on the call-in page). Counts only: the lists' person references never reach the brief.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from services.contracts.events import CallInHeld
from services.contracts.group_state import GroupStatus, SanctionLink
from services.dashboard.readmodel.model import ReadModel, agency_of, days
from services.dashboard.readmodel.sources import CallInView

__all__ = ["BriefGroup", "BriefSanction", "BriefSupport", "BriefViolation", "BriefWarning", "CallInBrief",
           "call_in_brief"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BriefWarning(_Part):
    channel: str
    time: datetime


class BriefSanction(_Part):
    kind: str
    agency: str
    time: datetime
    days_after_incident: float | None


class BriefViolation(_Part):
    incident_id: str
    kind: str | None
    area: str | None
    time: datetime
    sanctions: tuple[BriefSanction, ...]


class BriefSupport(_Part):
    service: str
    offered: int
    accepted: int


class BriefGroup(_Part):
    group_id: str
    name: str | None
    status: GroupStatus | None
    """The group's status now (None: the group has no state)."""
    period_start: datetime | None
    period_from: Literal["previous_call_in", "first_warning", "beginning"]
    previous_call_in_id: str | None
    warnings: tuple[BriefWarning, ...]
    violations: tuple[BriefViolation, ...]
    other_enforcement: tuple[BriefSanction, ...]
    support: tuple[BriefSupport, ...]
    attended: int | None = None
    no_shows: int | None = None
    """How many of the group came and stayed away (None, the two, while the call-in is not held)."""


class CallInBrief(_Part):
    call_in_id: str
    scheduled_for: datetime | None
    location: str | None
    held_time: datetime | None
    as_of: datetime | None
    groups: tuple[BriefGroup, ...]


def _before(time: datetime, limit: datetime | None) -> bool:
    return limit is None or time <= limit


def _previous_held(call_ins: list[CallInView], this: CallInView, group_id: str,
                   as_of: datetime | None) -> CallInView | None:
    held = [c for c in call_ins if c.call_in_id != this.call_in_id and c.held_time is not None
            and group_id in c.invited and (as_of is None or c.held_time < as_of)]
    return max(held, key=lambda c: (c.held_time, c.call_in_id), default=None)


def _sanction(link: SanctionLink, incident_time: datetime | None) -> BriefSanction:
    return BriefSanction(kind=link.kind, agency=agency_of(link), time=link.time,
                         days_after_incident=days(link.time - incident_time) if incident_time else None)


def _attendance(held: CallInHeld | None) -> tuple[Counter[str], Counter[str]]:
    """Per group: how many people came, how many stayed away (a person listed as both stayed away)."""
    came: dict[tuple[str, str], bool] = {}
    if held is not None:
        came.update({(e.person_ref, e.group_id): True for e in held.attended})
        came.update({(e.person_ref, e.group_id): False for e in held.no_shows})
    attended = Counter(group for (_, group), present in came.items() if present)
    no_shows = Counter(group for (_, group), present in came.items() if not present)
    return attended, no_shows


def call_in_brief(model: ReadModel, call_in_id: str) -> CallInBrief | None:
    """The brief of `call_in_id`, or None if the call-in is unknown (never scheduled nor held)."""
    sources = model.sources
    this = sources.call_in(call_in_id)
    if this is None:
        return None
    as_of = this.held_time or this.scheduled_for
    call_ins = sources.call_ins()
    attendance = _attendance(sources.attendance(call_in_id)) if this.held_time is not None else None
    groups = []
    for group_id in sorted(this.invited):
        state = model.group(group_id)
        previous = _previous_held(call_ins, this, group_id, as_of)
        if previous is not None:
            start, origin = previous.held_time, "previous_call_in"
        elif state is not None and state.warned_since is not None:
            start, origin = state.warned_since, "first_warning"
        else:
            start, origin = None, "beginning"

        def in_period(time: datetime, start: datetime | None = start, strict: bool = previous is not None
                      ) -> bool:
            after = start is None or (time > start if strict else time >= start)
            return after and _before(time, as_of)

        warnings, violations, other = [], [], []
        if state is not None:
            warnings = [BriefWarning(channel=w.channel, time=w.time) for w in state.warnings
                        if _before(w.time, as_of)]
            for case in state.cases:
                if not in_period(case.incident_time):
                    continue
                incident = sources.incident(case.incident_id)
                violations.append(BriefViolation(
                    incident_id=case.incident_id, kind=incident.kind if incident else None,
                    area=incident.area if incident else None, time=case.incident_time,
                    sanctions=tuple(_sanction(link, case.incident_time) for link in case.links
                                    if _before(link.time, as_of))))
            other = [_sanction(link, None) for link in state.baseline_links if in_period(link.time)]
        offered: Counter[str] = Counter()
        accepted: Counter[str] = Counter()
        for entry in sources.support(group_id):
            if in_period(entry.time):
                (accepted if entry.accepted else offered)[entry.service] += 1
        support = [BriefSupport(service=s, offered=offered[s], accepted=accepted[s])
                   for s in sorted(offered.keys() | accepted.keys())]
        groups.append(BriefGroup(
            group_id=group_id, name=state.name if state is not None else None,
            status=state.status if state is not None else None, period_start=start, period_from=origin,
            previous_call_in_id=previous.call_in_id if previous is not None else None,
            warnings=tuple(warnings), violations=tuple(violations), other_enforcement=tuple(other),
            support=tuple(support),
            attended=attendance[0][group_id] if attendance is not None else None,
            no_shows=attendance[1][group_id] if attendance is not None else None))
    return CallInBrief(call_in_id=call_in_id, scheduled_for=this.scheduled_for, location=this.location,
                       held_time=this.held_time, as_of=as_of, groups=tuple(groups))
