"""Told last, so that the earlier events keep their ids: agencies retracting events entered in error,
and the coordinator triaging the last retaliation-risk alerts."""

from __future__ import annotations

from datetime import datetime, timedelta

from devtools.scenario.builder import Builder
from devtools.scenario.local_time import to_utc
from services.contracts import RETRACTION_TYPE
from services.contracts.alerts import AlertKind, alert_id

__all__ = ["retract_errors", "triage_alerts"]

# (agency, service, event type, reasons)
_RETRACTABLE: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("police", "sanctions", "gvi.sanction.recorded.v1",
     ("Entered in error: wrong person reference.", "Entered in error: belongs to another case.")),
    ("police", "notifications", "gvi.membership.assessed.v1",
     ("Entered in error: the assessment was registered on the wrong group.",
      "Withdrawn after review: the evidence did not meet the assessment criteria.")),
    ("police", "incidents", "gvi.incident.attributed.v1",
     ("Recorded on the wrong incident.",)),
    ("prosecutor", "sanctions", "gvi.sanction.recorded.v1",
     ("The prosecution decision was recorded on the wrong case.",)),
    ("probation", "sanctions", "gvi.sanction.recorded.v1",
     ("Entered in error: the breach report was withdrawn.",)),
    ("probation", "notifications", "gvi.warning.delivered.v1",
     ("The notification was planned but never delivered; entered in advance in error.",)),
    ("municipality", "notifications", "gvi.warning.delivered.v1",
     ("The home visit did not take place; registered in advance in error.",)),
    ("civil-society", "notifications", "gvi.support.offered.v1",
     ("Registered twice.",)),
    ("municipality", "notifications", "gvi.support.accepted.v1",
     ("Entered in error: the person declined.",)),
)


def retract_errors(b: Builder) -> None:
    rng = b.rng
    pool = sorted(b.records, key=lambda r: r[1])
    for agency, service, event_type, reasons in _RETRACTABLE:
        candidates = [r for r in pool if r[2].agency == agency and r[2].service == service
                      and r[2].type == event_type and r[0] < to_utc(datetime(2020, 11, 1))
                      and (event_type != "gvi.warning.delivered.v1"
                           or r[2].event["data"]["channel"] not in ("call_in", "letter"))]
        for _, _, target in rng.sample(candidates, min(len(candidates), rng.randint(1, 3))):
            posted = datetime.fromisoformat(target.time).replace(tzinfo=None)
            b.emit(agency, RETRACTION_TYPE, b.after(posted, 1, 25),
                   {"retracted_event_id": target.id, "reason": b.pick(reasons)}, service=service)


_TRIAGE_NOTES = ("Met the group's families with the social services; no retaliation seen.",
                 "Talked with the youth centre staff in the area; the situation is calm.")


def triage_alerts(b: Builder) -> None:
    """The coordinator triages the retaliation-risk alerts of the last confirmed incidents with
    victims (told last, so the earlier events keep their ids): each acknowledged, most assigned,
    some resolved with a note. A triage changes no rule: the processor raises the same alerts."""
    reports = [(r.time, r.event["data"]) for when, _, r in sorted(b.records, key=lambda r: (r[0], r[1]))
               if r.type == "gvi.incident.reported.v1" and r.event["data"]["confirmed"]
               and r.event["data"].get("victim_group_ids") and when < to_utc(datetime(2020, 12, 1))]
    for n, (when, data) in enumerate(reports[-4:]):
        target = alert_id(AlertKind.RETALIATION_RISK, data["victim_group_ids"][0], data["incident_id"])
        seen = b.after(datetime.fromisoformat(when).replace(tzinfo=None), 1, 2)
        b.emit("municipality", "gvi.alert.triaged.v1", seen, {"alert_id": target, "action": "acknowledged"})
        if n % 4 == 3:
            continue
        b.emit("municipality", "gvi.alert.triaged.v1", seen + timedelta(hours=1),
               {"alert_id": target, "action": "assigned", "assignee": "coordinator"})
        if n % 2 == 0:
            b.emit("municipality", "gvi.alert.triaged.v1", seen + timedelta(days=6),
                   {"alert_id": target, "action": "resolved", "note": _TRIAGE_NOTES[n // 2]})
