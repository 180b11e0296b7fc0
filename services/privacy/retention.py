"""Retention deadlines: when each person's data must be shredded, by rule. Pure functions, called
the same way by the retention job (`gvi-privacy retention`), by `gvi-audit verify` and by tests.

The rules (`RetentionPolicy`), over the sealed events of the source topics:

- a membership assessment (`gvi.membership.assessed.v1`) is kept `membership_months` after its
  `valid_until`; a renewal is a later assessment with a later `valid_until`, which moves the
  deadline on;
- every other event naming a person (person-level sanctions, warnings, support, call-in
  attendance, exit milestones) is kept `person_years` after the event's `time`.

A person's deadline is the latest over all their events: their key is shredded only once nothing
about them may be kept. Retracted events do not count (an agency's retraction names the id of one
of its own events: (retraction's source, `retracted_event_id`), as in the processor's rules), nor
do retractions themselves. Persons are counted by pseudonym; an event posted before sealing
existed names a clear reference, which no key protects, and is left out (it cannot be shredded).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from services.contracts.envelope import CloudEvent
from services.contracts.events import EventRetracted, MembershipAssessed
from services.contracts.personal import is_pseudonym
from services.contracts.topics import RETRACTION_TYPE
from services.privacy.sealing import person_refs

__all__ = ["RetentionPolicy", "add_months", "deadlines", "due", "effective_events", "event_deadline"]


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """`membership_months` after an assessment's `valid_until`; `person_years` after any other event."""

    membership_months: int = 12
    person_years: int = 5


def add_months(when: datetime, months: int) -> datetime:
    """`when` moved on by calendar months, the day kept or clamped to the month's last day."""
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


def event_deadline(event: CloudEvent, policy: RetentionPolicy) -> datetime:
    """Until when one event's personal data may be kept."""
    if isinstance(event.data, MembershipAssessed):
        return add_months(event.data.valid_until, policy.membership_months)
    return add_months(event.time, 12 * policy.person_years)


def effective_events(events: Iterable[CloudEvent]) -> list[CloudEvent]:
    """One copy per (source, id), without retracted events and without the retractions."""
    chosen: dict[tuple[str, str], CloudEvent] = {}
    for event in events:
        chosen.setdefault((event.source, event.id), event)
    retracted = {(e.source, e.data.retracted_event_id) for e in chosen.values()
                 if e.type == RETRACTION_TYPE and isinstance(e.data, EventRetracted)}
    return [e for key, e in chosen.items() if e.type != RETRACTION_TYPE and key not in retracted]


def deadlines(events: Iterable[CloudEvent], policy: RetentionPolicy) -> dict[str, datetime]:
    """Each pseudonym's deadline: the latest over the effective events that name it."""
    found: dict[str, datetime] = {}
    for event in effective_events(events):
        refs = [ref for ref in person_refs(event.to_dict()) if is_pseudonym(ref)]
        if not refs:
            continue
        deadline = event_deadline(event, policy)
        for ref in refs:
            if ref not in found or found[ref] < deadline:
                found[ref] = deadline
    return found


def due(by_pseudonym: Mapping[str, datetime], now: datetime) -> list[str]:
    """The pseudonyms whose deadline has passed at `now`, in order of deadline."""
    return [p for p, deadline in sorted(by_pseudonym.items(), key=lambda item: (item[1], item[0]))
            if deadline <= now]
