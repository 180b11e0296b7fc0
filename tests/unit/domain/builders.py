"""Terse builders of accepted events for the rule tests: days count from T0 (2024-01-01T00:00Z)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from services.contracts import CloudEvent, parse_event
from tests.examples import OMIT, example_event

T0 = datetime(2024, 1, 1, tzinfo=UTC)
POLICE = "/agencies/police"
PROBATION = "/agencies/probation"
MUNICIPALITY = "/agencies/municipality"


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def iso(day: float) -> str:
    return at(day).isoformat().replace("+00:00", "Z")


def event(event_type: str, id: str, day: float, data: dict[str, Any], *, source: str = POLICE,
          recorded_day: float | None = None) -> CloudEvent:
    raw = example_event(event_type, id=id, source=source, time=iso(day), data_overrides=data)
    raw["recordedtime"] = iso(day if recorded_day is None else recorded_day)
    raw["agency"] = source.rsplit("/", 1)[-1]
    return parse_event(raw, allow_intake_attributes=True)


def registered(id: str, group: str, name: str, day: float = 0) -> CloudEvent:
    return event("gvi.group.registered.v1", id, day, {"group_id": group, "name": name})


def warning(id: str, group: str, day: float, channel: str = "home_visit", **kw: Any) -> CloudEvent:
    return event("gvi.warning.delivered.v1", id, day,
                 {"group_id": group, "channel": channel, "call_in_id": OMIT, "person_ref": OMIT},
                 source=PROBATION, **kw)


def incident(id: str, incident_id: str, day: float, suspected: Sequence[str], victims: Sequence[str] = (),
             confirmed: bool = True, **kw: Any) -> CloudEvent:
    return event("gvi.incident.reported.v1", id, day,
                 {"incident_id": incident_id, "suspected_group_ids": list(suspected),
                  "victim_group_ids": list(victims), "confirmed": confirmed}, **kw)


def attribution(id: str, incident_id: str, day: float, suspected: Sequence[str],
                victims: Sequence[str] = (), confirmed: bool = True, **kw: Any) -> CloudEvent:
    return event("gvi.incident.attributed.v1", id, day,
                 {"incident_id": incident_id, "suspected_group_ids": list(suspected),
                  "victim_group_ids": list(victims), "confirmed": confirmed}, **kw)


def sanction(id: str, day: float, *, group: str | None = None, person: str | None = None,
             incident: str | None = None, kind: str = "arrest", **kw: Any) -> CloudEvent:
    return event("gvi.sanction.recorded.v1", id, day,
                 {"kind": kind, "group_id": group if group is not None else OMIT,
                  "person_ref": person if person is not None else OMIT,
                  "incident_id": incident if incident is not None else OMIT}, **kw)


def membership(id: str, person: str, group: str, valid_from: float, valid_until: float,
               day: float | None = None) -> CloudEvent:
    return event("gvi.membership.assessed.v1", id, valid_from if day is None else day,
                 {"person_ref": person, "group_id": group, "valid_from": iso(valid_from),
                  "valid_until": iso(valid_until)})


def scheduled(id: str, call_in: str, day: float, groups: Sequence[str]) -> CloudEvent:
    return event("gvi.callin.scheduled.v1", id, day,
                 {"call_in_id": call_in, "scheduled_for": iso(day + 10), "invited_group_ids": list(groups)},
                 source=PROBATION)


def held(id: str, call_in: str, day: float, *, no_shows: Sequence[tuple[str, str]] | None = None,
         attended: Sequence[tuple[str, str]] | None = None) -> CloudEvent:
    """A held call-in; `no_shows` and `attended` as (person, group) pairs (else the example's)."""
    data: dict[str, Any] = {"call_in_id": call_in}
    for name, pairs in (("no_shows", no_shows), ("attended", attended)):
        if pairs is not None:
            data[name] = [{"person_ref": p, "group_id": g} for p, g in pairs]
    return event("gvi.callin.held.v1", id, day, data, source=PROBATION)


def relation(id: str, group: str, other: str, day: float = 0, kind: str = "conflict") -> CloudEvent:
    return event("gvi.group.relation.recorded.v1", id, day,
                 {"group_id": group, "other_group_id": other, "relation": kind})


def relation_ended(id: str, group: str, other: str, day: float = 0) -> CloudEvent:
    return event("gvi.group.relation.ended.v1", id, day, {"group_id": group, "other_group_id": other})


MUNICIPALITY = "/agencies/municipality"


def exit_milestone(id: str, person: str, group: str, day: float, milestone: str = "left_group") -> CloudEvent:
    """A `gvi.exit.milestone.v2` (the municipality's); `left_group` ends the membership (rule 4)."""
    return event("gvi.exit.milestone.v2", id, day,
                 {"person_ref": person, "group_id": group, "milestone": milestone, "service": OMIT},
                 source=MUNICIPALITY)


def retraction(id: str, target: str, day: float = 0, *, source: str = POLICE) -> CloudEvent:
    return event("gvi.event.retracted.v1", id, day, {"retracted_event_id": target}, source=source)


def triaged(id: str, alert: str, action: str, day: float = 0, *, assignee: str | None = None,
            note: str | None = None, source: str = MUNICIPALITY) -> CloudEvent:
    return event("gvi.alert.triaged.v1", id, day, {"alert_id": alert, "action": action,
                                                   "assignee": OMIT if assignee is None else assignee,
                                                   "note": OMIT if note is None else note}, source=source)
