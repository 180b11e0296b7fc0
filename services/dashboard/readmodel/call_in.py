"""Call-in preparation: who is invited to a call-in and, once it is held, who came.

For a call-in, as of its held time (else its scheduled time):

* per group invited (its latest schedule), and per group named in the attendance lists though not
  invited: how many members it has then (people with a membership assessment of the group valid
  then), how many of them are on probation (rule 9, `services.followthrough.probation`), and,
  once held, how many came, how many stayed away, how many of those were on probation and so raised
  the `no_show_on_probation` alert. Counts only: no person reference (every role sees this part);
* per person (only for the roles that may see people, and access-logged by the routes): the members
  of the invited groups and everyone in the attendance lists, with the group, since when they have
  been on probation (the latest probation action counted) and whether they came.

Attendance is that of the latest held report (by time, then id), and "on probation" is decided by
the rules' own functions, so this page and the processor's alerts agree on every no-show.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from services.contracts.alerts import AlertKind, alert_id
from services.contracts.events import AttendanceEntry, MembershipAssessed
from services.dashboard.readmodel.sources import SourceFacts
from services.followthrough import Fact, membership_valid_at, on_probation_since

__all__ = ["Attendance", "CallInGroup", "CallInPerson", "CallInPrep", "call_in_prep"]

Attendance = Literal["attended", "no_show", "not_listed"]
"""Whether a person came to a held call-in; `not_listed`: a member of an invited group that the
held report lists neither as attended nor as a no-show."""


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CallInGroup(_Part):
    group_id: str
    name: str | None
    invited: bool
    """False for a group named only in the attendance lists."""
    members: int
    members_on_probation: int
    attended: int | None
    no_shows: int | None
    no_shows_on_probation: int | None
    """None (the three) while the call-in has not been held."""
    alert_id: str | None
    """The `no_show_on_probation` alert the rules raise for this group and call-in, if any."""
    alert_raised_at: datetime | None
    """When the processor's alert of that id arrived, if it has and is not withdrawn (None while the
    processor has yet to publish it)."""


class CallInPerson(_Part):
    person_ref: str | None
    """The read model's reference (the pseudonym of a sealed event); what a reader is shown is the
    person's reference (`services.dashboard.reveal`), None once the person's key was shredded."""
    erased: bool = False
    """The person's key was shredded: the reference can no longer be shown."""
    group_id: str
    member: bool
    """A membership assessment of the group is valid at the call-in."""
    on_probation_since: datetime | None
    """The probation action that makes the person on probation at the call-in, or None: not known
    to probation."""
    attendance: Attendance | None
    """None while the call-in has not been held."""


class CallInPrep(_Part):
    call_in_id: str
    scheduled_for: datetime | None
    location: str | None
    held_time: datetime | None
    as_of: datetime | None
    groups: tuple[CallInGroup, ...]
    people: tuple[CallInPerson, ...] | None
    """Only when asked for (`people=True`): the roles that may see person references."""


def call_in_prep(sources: SourceFacts, call_in_id: str, *, people: bool,
                 group_name: Callable[[str], str | None] = lambda _: None,
                 raised_at: Callable[[str], datetime | None] = lambda _: None) -> CallInPrep | None:
    """The call-in's preparation and attendance, or None if it was never scheduled nor held.
    `raised_at(alert_id)`: when an alert arrived from the processor, if it is active."""
    view = sources.call_in(call_in_id)
    if view is None:
        return None
    as_of = view.held_time or view.scheduled_for
    held = sources.attendance(call_in_id) if view.held_time is not None else None
    came: dict[tuple[str, str], Attendance] = {}
    if held is not None:
        came.update(_listed(held.attended, "attended"))
        came.update(_listed(held.no_shows, "no_show"))  # someone listed as both: the no-show counts
    members = _members(sources.memberships(), view.invited, as_of)
    rows: dict[tuple[str, str], CallInPerson] = {}
    probation: dict[str, datetime | None] = {}
    for key in sorted(members | came.keys(), key=lambda k: (k[1], k[0])):  # by group, then person
        person, group_id = key
        if person not in probation:
            probation[person] = on_probation_since(sources.probation_times(person), as_of) \
                if as_of is not None else None
        attendance = came.get(key, "not_listed") if held is not None else None
        rows[key] = CallInPerson(person_ref=person, group_id=group_id, member=key in members,
                                 on_probation_since=probation[person], attendance=attendance)
    group_ids = sorted(view.invited | {g for _, g in rows})
    groups = tuple(_group(g, g in view.invited, [r for r in rows.values() if r.group_id == g], call_in_id,
                          held is not None, group_name(g), raised_at) for g in group_ids)
    return CallInPrep(call_in_id=call_in_id, scheduled_for=view.scheduled_for, location=view.location,
                      held_time=view.held_time, as_of=as_of, groups=groups,
                      people=tuple(rows.values()) if people else None)


def _listed(entries: Iterable[AttendanceEntry], attendance: Attendance) -> dict[tuple[str, str], Attendance]:
    return {(e.person_ref, e.group_id): attendance for e in entries}


def _members(memberships: Iterable[Fact], invited: frozenset[str], as_of: datetime | None
             ) -> set[tuple[str, str]]:
    found = set()
    for fact in memberships:
        data = fact.data
        if isinstance(data, MembershipAssessed) and data.group_id in invited and (
                as_of is None or membership_valid_at(data, as_of)):
            found.add((data.person_ref, data.group_id))
    return found


def _group(group_id: str, invited: bool, rows: list[CallInPerson], call_in_id: str, held: bool,
           name: str | None, raised_at: Callable[[str], datetime | None]) -> CallInGroup:
    members = [r for r in rows if r.member]
    no_shows = [r for r in rows if r.attendance == "no_show"]
    on_probation = sum(1 for r in no_shows if r.on_probation_since is not None)
    alert = alert_id(AlertKind.NO_SHOW_ON_PROBATION, group_id, call_in_id) if on_probation else None
    return CallInGroup(
        group_id=group_id, name=name, invited=invited, members=len(members),
        members_on_probation=sum(1 for r in members if r.on_probation_since is not None),
        attended=sum(1 for r in rows if r.attendance == "attended") if held else None,
        no_shows=len(no_shows) if held else None, no_shows_on_probation=on_probation if held else None,
        alert_id=alert, alert_raised_at=raised_at(alert) if alert is not None else None)
