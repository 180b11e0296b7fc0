"""One canonical, valid example of every event type, as an agency would post it.

    example_event("gvi.sanction.recorded.v1")                               # a valid event
    example_event("gvi.sanction.recorded.v1", source="/agencies/prosecutor",
                  data_overrides={"kind": "prosecution"})                   # change data fields
    example_event("gvi.warning.delivered.v1", data_overrides={"call_in_id": OMIT})   # drop a field
    example_event("gvi.group.registered.v1", time="2024-03-01T22:14:00+01:00", subject=OMIT)

Every call returns a new dict (a fresh uuid4 `id` unless one is given), safe to mutate.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["EXAMPLE_DATA", "EXAMPLE_TIME", "OMIT", "event_types", "example_data", "example_event"]


class _Omit:
    def __repr__(self) -> str:
        return "OMIT"


OMIT: Final = _Omit()
"""Pass as an attribute or data value to leave that attribute or field out."""

EXAMPLE_TIME = "2024-03-01T21:14:00Z"

EXAMPLE_DATA: Final[dict[str, dict[str, Any]]] = {
    "gvi.group.registered.v1": {
        "group_id": "grp-norra-42",
        "name": "Norra gänget",
        "area": "Rosengård",
    },
    "gvi.membership.assessed.v1": {
        "person_ref": "pol:p-7f3a91",
        "group_id": "grp-norra-42",
        "valid_from": "2024-01-15T00:00:00Z",
        "valid_until": "2025-01-15T00:00:00Z",
        "evidence": "Seen with group members at three documented occasions; group audit 2024-01.",
        "source_grade": "B",
    },
    "gvi.group.relation.recorded.v1": {
        "group_id": "grp-norra-42",
        "other_group_id": "grp-sodra-7",
        "relation": "conflict",
    },
    "gvi.group.relation.ended.v1": {
        "group_id": "grp-norra-42",
        "other_group_id": "grp-sodra-7",
    },
    "gvi.callin.scheduled.v1": {
        "call_in_id": "ci-2024-03",
        "scheduled_for": "2024-03-20T14:00:00Z",
        "location": "Malmö tingsrätt, sal 3",
        "invited_group_ids": ["grp-norra-42", "grp-sodra-7"],
    },
    "gvi.callin.held.v1": {
        "call_in_id": "ci-2024-03",
        "attended": [{"person_ref": "kvv:k-1029", "group_id": "grp-norra-42"}],
        "no_shows": [{"person_ref": "kvv:k-2291", "group_id": "grp-sodra-7"}],
    },
    "gvi.warning.delivered.v1": {
        "group_id": "grp-norra-42",
        "channel": "call_in",
        "person_ref": "kvv:k-1029",
        "call_in_id": "ci-2024-03",
        "promised_levers": ["arrest", "prosecution", "sentence_enforcement"],
    },
    "gvi.incident.reported.v1": {
        "incident_id": "inc-2024-0117",
        "kind": "shooting",
        "area": "Rosengård",
        "confirmed": True,
        "killed": 0,
        "injured": 1,
        "suspected_group_ids": ["grp-norra-42"],
        "victim_group_ids": ["grp-sodra-7"],
    },
    "gvi.incident.attributed.v1": {
        "incident_id": "inc-2024-0117",
        "confirmed": True,
        "suspected_group_ids": ["grp-norra-42"],
        "victim_group_ids": [],
        "confidence": "high",
        "reason": "Forensic match of the weapon; the injured person is not assessed as a group member.",
    },
    "gvi.sanction.recorded.v1": {
        "kind": "arrest",
        "group_id": "grp-norra-42",
        "person_ref": "pol:p-7f3a91",
        "incident_id": "inc-2024-0117",
    },
    "gvi.support.offered.v1": {
        "group_id": "grp-norra-42",
        "person_ref": "mun:s-5521",
        "service": "housing",
    },
    "gvi.support.accepted.v1": {
        "group_id": "grp-norra-42",
        "person_ref": "mun:s-5521",
        "service": "housing",
    },
    "gvi.exit.milestone.v1": {
        "group_id": "grp-norra-42",
        "person_ref": "mun:s-5521",
        "service": "relocation",
    },
    "gvi.alert.triaged.v1": {
        "alert_id": "9b2f0c6d4e8a1f3b5c7d9e0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c",
        "action": "assigned",
        "assignee": "coordinator",
        "note": "Call the youth worker in Norra before Friday.",
    },
    "gvi.exit.milestone.v2": {
        "group_id": "grp-norra-42",
        "person_ref": "mun:s-5521",
        "milestone": "left_area",
        "service": "relocation",
    },
    "gvi.event.retracted.v1": {
        "retracted_event_id": "3f1c2b7e-5d0a-4a51-9a55-0c8e2f4b6d19",
        "reason": "Entered in error: wrong group.",
    },
}
"""The canonical `data` of each event type (do not mutate: use `example_data`)."""


def event_types() -> list[str]:
    """Every event type that has an example, in contract order."""
    return list(EXAMPLE_DATA)


def example_data(event_type: str, /, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of the canonical `data` of `event_type`, with `overrides` applied (OMIT drops)."""
    if event_type not in EXAMPLE_DATA:
        raise KeyError(f"no example for event type {event_type!r}; known: {', '.join(EXAMPLE_DATA)}")
    return _apply(copy.deepcopy(EXAMPLE_DATA[event_type]), overrides)


def example_event(
    event_type: str,
    *,
    id: str | None = None,
    source: str = "/agencies/police",
    data_overrides: Mapping[str, Any] | None = None,
    **attrs: Any,
) -> dict[str, Any]:
    """A complete structured-mode CloudEvent dict of `event_type`, valid as posted by a client.

    `id` defaults to a fresh uuid4 string, `time` to EXAMPLE_TIME. `data_overrides` replace
    fields of the canonical data; `attrs` replace or add envelope attributes (e.g. `time`,
    `subject`, `dataschema`, even `data` as a whole or `recordedtime` to test a refusal). Give
    OMIT as a value to leave an attribute or field out.
    """
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": id if id is not None else str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "time": EXAMPLE_TIME,
        "datacontenttype": "application/json",
        "data": example_data(event_type, **(data_overrides or {})),
    }
    return _apply(event, attrs)


def _apply(target: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if value is OMIT:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)
    return target
