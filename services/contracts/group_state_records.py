"""The `group-state` topic's records: their keys, their values, and the decoder that puts a group's
state back together.

A group's whole state grows with its history, so republishing it on every event would make an event's
cost grow with the history too. The processor publishes, under keys of their own, only the parts an
event changed:

* `["group", group_id]`: the `GroupSummary` (name, status, warnings, case counts, last incident);
* `["case", group_id, incident_id]`: a `CaseState`, with `group_id`;
* `["unwarned", group_id, incident_id]`: an incident that counts as unwarned violence;
* `["baseline", group_id, source, sanction_id]`: a sanction linked to no case (`SanctionLink`);
* `["unresolved", source, sanction_id]`: an `UnresolvedSanction`.

Keys are canonical JSON arrays (UTF-8), values canonical JSON objects; a null value (a tombstone)
means the record no longer exists, and the topic is compacted, so reading it from the start gives
the current records. All records of a group go to the same partition (the processor's Kafka adapter,
`services.sanctions.processor.partitioning`), in the order they were produced. `StateView` applies
records and assembles the `GroupState` that the rules' `derive` gives for the same events, byte for
byte; the dashboard and `gvi-audit` use it, and the property test checks it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter

from services.contracts.envelope import canonical_json
from services.contracts.group_state import (
    CaseState,
    GroupState,
    GroupSummary,
    SanctionLink,
    UnresolvedSanction,
)
from services.contracts.types import UtcDatetime

__all__ = [
    "Record",
    "SanctionKey",
    "StateView",
    "baseline_key",
    "case_key",
    "group_key",
    "record_with_group",
    "states_document",
    "unresolved_key",
    "unwarned_key",
    "unwarned_record",
]

Record = tuple[bytes, bytes | None]
"""(key, value); a None value is a tombstone."""

SanctionKey = tuple[str, str]
"""(source, sanction_id): how a sanction is named across agencies."""

_TIME: TypeAdapter[datetime] = TypeAdapter(UtcDatetime)


def _key(*parts: str) -> bytes:
    return canonical_json(list(parts))


def group_key(group_id: str) -> bytes:
    return _key("group", group_id)


def case_key(group_id: str, incident_id: str) -> bytes:
    return _key("case", group_id, incident_id)


def unwarned_key(group_id: str, incident_id: str) -> bytes:
    return _key("unwarned", group_id, incident_id)


def baseline_key(group_id: str, source: str, sanction_id: str) -> bytes:
    return _key("baseline", group_id, source, sanction_id)


def unresolved_key(source: str, sanction_id: str) -> bytes:
    return _key("unresolved", source, sanction_id)


def record_with_group(group_id: str, record: CaseState | SanctionLink) -> bytes:
    """The value of a `case` or `baseline` record: the canonical JSON of the record's fields and
    `group_id`."""
    return canonical_json({**record.model_dump(mode="json"), "group_id": group_id})


def unwarned_record(group_id: str, incident_id: str, time: datetime) -> bytes:
    """The value of an `unwarned` record."""
    return canonical_json({"group_id": group_id, "incident_id": incident_id,
                           "incident_time": _TIME.dump_python(time, mode="json")})


def _without_group(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    group_id = body.pop("group_id")
    if not isinstance(group_id, str):
        raise ValueError("record without a group_id")
    return group_id, body


class StateView:
    """The current records of the `group-state` topic, and the group states they stand for."""

    def __init__(self) -> None:
        self._summaries: dict[str, GroupSummary] = {}
        self._cases: dict[str, dict[str, CaseState]] = {}
        self._unwarned: dict[str, dict[str, datetime]] = {}
        self._baseline: dict[str, dict[SanctionKey, SanctionLink]] = {}
        self._unresolved: dict[SanctionKey, UnresolvedSanction] = {}
        self._assembled: dict[str, GroupState] = {}

    def apply(self, key: bytes, value: bytes | None) -> set[str]:
        """Take one record (in the order its partition holds them); return the group ids whose
        state it changed (empty for an unresolved sanction). Raises ValueError on a record that is
        not one of the kinds above."""
        parts = json.loads(key)
        if not isinstance(parts, list) or not parts or not all(isinstance(p, str) for p in parts):
            raise ValueError(f"not a group-state key: {key!r}")
        kind, *rest = parts
        body = None if value is None else json.loads(value)
        match kind, rest:
            case "group", [group_id]:
                _put(self._summaries, group_id, None if body is None else GroupSummary.model_validate(body))
            case "case", [group_id, incident_id]:
                _put(self._cases.setdefault(group_id, {}), incident_id,
                     None if body is None else CaseState.model_validate(_without_group(body)[1]))
            case "unwarned", [group_id, incident_id]:
                _put(self._unwarned.setdefault(group_id, {}), incident_id,
                     None if body is None else _TIME.validate_python(body["incident_time"]))
            case "baseline", [group_id, source, sanction_id]:
                _put(self._baseline.setdefault(group_id, {}), (source, sanction_id),
                     None if body is None else SanctionLink.model_validate(_without_group(body)[1]))
            case "unresolved", [source, sanction_id]:
                _put(self._unresolved, (source, sanction_id),
                     None if body is None else UnresolvedSanction.model_validate(body))
                return set()
            case _:
                raise ValueError(f"not a group-state key: {key!r}")
        self._assembled.pop(group_id, None)
        return {group_id}

    def apply_all(self, records: Iterable[Record]) -> None:
        for key, value in records:
            self.apply(key, value)

    def summary(self, group_id: str) -> GroupSummary | None:
        return self._summaries.get(group_id)

    def summaries(self) -> Mapping[str, GroupSummary]:
        return self._summaries

    def cases(self, group_id: str) -> Mapping[str, CaseState]:
        return self._cases.get(group_id, {})

    def group(self, group_id: str) -> GroupState | None:
        """The group's state as `derive` defines it (None for a group with no summary record)."""
        state = self._assembled.get(group_id)
        if state is None:
            summary = self._summaries.get(group_id)
            if summary is None:
                return None
            state = self._assembled[group_id] = self._assemble(summary)
        return state

    def groups(self) -> dict[str, GroupState]:
        out = {}
        for group_id in sorted(self._summaries):
            state = self.group(group_id)
            assert state is not None
            out[group_id] = state
        return out

    def unresolved(self) -> dict[SanctionKey, UnresolvedSanction]:
        return dict(sorted(self._unresolved.items()))

    def _assemble(self, summary: GroupSummary) -> GroupState:
        group_id = summary.group_id
        cases = sorted(self._cases.get(group_id, {}).values(), key=lambda c: (c.incident_time, c.incident_id))
        baseline = sorted(self._baseline.get(group_id, {}).values(),
                          key=lambda link: (link.time, link.sanction_id, link.source))
        return GroupState(
            group_id=group_id, name=summary.name, registration_id=summary.registration_id,
            status=summary.status, warned_since=summary.warned_since, warnings=summary.warnings,
            cases=tuple(cases), unwarned_incident_ids=tuple(sorted(self._unwarned.get(group_id, {}))),
            baseline_sanction_ids=tuple(sorted(link.sanction_id for link in baseline)),
            baseline_links=tuple(baseline), rule_version=summary.rule_version)


def _put(index: dict[Any, Any], key: Any, value: Any) -> None:
    if value is None:
        index.pop(key, None)
    else:
        index[key] = value


def states_document(groups: Mapping[str, GroupState]) -> bytes:
    """Every group's state as canonical JSON, one line each, sorted by group id: what `gvi-audit
    replay` prints, and what the live view gives for the same events."""
    return b"".join(groups[g].to_json() + b"\n" for g in sorted(groups))
