"""Who is on probation, and which call-in no-shows probation must hear about (rule 9).

No event says "this person is on probation"; the probation service's own levers do. A person counts
as on probation at a time if a `probation_action` sanction naming them (`person_ref`, whether or not
it also names a group) was recorded at or before that time and at most `PROBATION_DAYS` earlier (a
Swedish probation period, *prövotid*, under a protective supervision sentence is three years). The
system cannot know that someone is *not* on probation: a person without such a sanction is
"not known to probation", never "not on probation".

A no-show on probation: the latest `gvi.callin.held.v1` of a call-in (by time, then id; a later
report of the same call-in replaces its attendance lists) lists the person among its `no_shows`, and
the person is on probation at the held time. It raises one `no_show_on_probation` alert per (group the
person was summoned as a member of, call-in): the alert names no person (the alerts feed is read by
every role); the call-in page shows probation who it was.

Both evaluators (`derive` and the incremental `Ledger`) and the dashboard's call-in page call these
functions, so they cannot disagree on who is on probation.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from services.contracts.events import CallInHeld, EventData, SanctionKind, SanctionRecorded
from services.followthrough.facts import Fact
from services.followthrough.rules import latest

__all__ = ["PROBATION_DAYS", "attendance_of", "no_show_groups", "on_probation_since", "probation_person"]

PROBATION_DAYS = 1095
"""How long a probation action keeps a person counted as on probation (three years)."""

_PERIOD = timedelta(days=PROBATION_DAYS)


def probation_person(data: EventData) -> str | None:
    """The person a probation action names, or None if `data` is no probation action naming one."""
    if isinstance(data, SanctionRecorded) and data.kind is SanctionKind.PROBATION_ACTION:
        return data.person_ref
    return None


def on_probation_since(action_times: Sequence[datetime], at: datetime) -> datetime | None:
    """The latest probation action at or before `at` and at most `PROBATION_DAYS` earlier (exactly
    three years is still inside), from the person's action times in ascending order; None if there
    is none: the person is not known to be on probation at `at`."""
    i = bisect.bisect_right(action_times, at)
    if i == 0:
        return None
    last = action_times[i - 1]
    return last if at - last <= _PERIOD else None


def attendance_of(helds: Iterable[Fact]) -> Fact | None:
    """The held report whose attendance counts: the call-in's latest `held` by (time, id)."""
    return latest(helds)


def no_show_groups(held: Fact | None, action_times_of: Callable[[str], Sequence[datetime]]) -> frozenset[str]:
    """The groups with a member on probation among the no-shows of `held` (see `attendance_of`):
    one `no_show_on_probation` alert each. `action_times_of(person_ref)` gives the person's
    probation action times, ascending."""
    if held is None:
        return frozenset()
    assert isinstance(held.data, CallInHeld)
    return frozenset(entry.group_id for entry in held.data.no_shows
                     if on_probation_since(action_times_of(entry.person_ref), held.time) is not None)
