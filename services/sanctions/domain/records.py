"""The processor's output on the `group-state` topic, and how a consumer puts a group's state together.

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
the current records. All records of a group go to the same partition (`partition_of`), in the order
they were produced. `StateView` applies records and assembles the `GroupState` that `derive` gives
for the same events, byte for byte; the dashboard and `gvi-audit` use it, and the property test
checks it.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter

from services.contracts import canonical_json
from services.contracts.types import UtcDatetime
from services.sanctions.domain.facts import FactKey
from services.sanctions.domain.ledger import Ledger, Update
from services.sanctions.domain.state import (
    CaseState,
    GroupState,
    GroupSummary,
    SanctionLink,
    UnresolvedSanction,
)

__all__ = [
    "Record",
    "StateView",
    "all_records",
    "baseline_key",
    "case_key",
    "group_key",
    "group_partition",
    "key_partition",
    "partition_of",
    "records_for",
    "states_document",
    "unresolved_key",
    "unwarned_key",
]

Record = tuple[bytes, bytes | None]
"""(key, value); a None value is a tombstone."""

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


def partition_of(key: bytes, partitions: int) -> int:
    """The partition of a record: its group's (Kafka's default partitioner over the group id, so a
    group's records share the partition its group-keyed source events use); an unresolved sanction's
    by its (source, id)."""
    parts = json.loads(key)
    anchor = parts[1] if parts[0] != "unresolved" else canonical_json(parts[1:]).decode()
    return group_partition(anchor, partitions)


@lru_cache(maxsize=1 << 16)
def group_partition(group_id: str, partitions: int) -> int:
    """The partition of a group's records (`partition_of` of any of them)."""
    return key_partition(group_id.encode(), partitions)


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record with this key."""
    return (_murmur2(key) & 0x7FFFFFFF) % partitions


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def _murmur2(data: bytes) -> int:
    """Kafka's murmur2 (`aiokafka.partitioner.murmur2`, tested equal), reading the 4-byte words in
    one `struct` call: the alerts are partitioned by their 64-character ids, one at a time."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    words = length // 4
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        at = length & ~3
        if tail >= 3:
            h ^= data[at + 2] << 16
        if tail >= 2:
            h ^= data[at + 1] << 8
        h ^= data[at]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def _with_group(group_id: str, record: CaseState | SanctionLink) -> bytes:
    """The canonical JSON of the record's fields and `group_id`."""
    return canonical_json({**record.model_dump(mode="json"), "group_id": group_id})


def records_for(ledger: Ledger, update: Update) -> list[Record]:
    """The records that publish what `update` changed, from the ledger's current state: the same
    records for the same state, so re-publishing after a crash is harmless."""
    out: list[Record] = []
    for group_id in update.group_ids:
        summary = ledger.summary(group_id)
        out.append((group_key(group_id), None if summary is None else summary.to_json()))
    for group_id, incident_id in update.case_ids:
        case = ledger.case_state(group_id, incident_id)
        out.append((case_key(group_id, incident_id), None if case is None else _with_group(group_id, case)))
    for group_id, incident_id in update.unwarned_ids:
        time = ledger.unwarned_incident_time(group_id, incident_id)
        out.append((unwarned_key(group_id, incident_id),
                    None if time is None else _unwarned(group_id, incident_id, time)))
    for group_id, source, sanction_id in update.baseline_ids:
        link = ledger.baseline_link(group_id, source, sanction_id)
        out.append((baseline_key(group_id, source, sanction_id),
                    None if link is None else _with_group(group_id, link)))
    for (source, sanction_id), unresolved in update.unresolved.items():
        out.append((unresolved_key(source, sanction_id),
                    None if unresolved is None else unresolved.to_json()))
    return out


def all_records(ledger: Ledger) -> dict[bytes, bytes]:
    """Every record the ledger's current state stands for: what the compacted topic should hold
    (without tombstones). Costs the whole state: for reconciling after a restart, not per event."""
    out: dict[bytes, bytes] = {}
    for group_id in ledger.group_ids():
        summary, state = ledger.summary(group_id), ledger.group_state(group_id)
        if summary is None or state is None:
            continue
        out[group_key(group_id)] = summary.to_json()
        for case in state.cases:
            out[case_key(group_id, case.incident_id)] = _with_group(group_id, case)
        for incident_id in state.unwarned_incident_ids:
            time = ledger.unwarned_incident_time(group_id, incident_id)
            assert time is not None
            out[unwarned_key(group_id, incident_id)] = _unwarned(group_id, incident_id, time)
        for link in state.baseline_links:
            out[baseline_key(group_id, link.source, link.sanction_id)] = _with_group(group_id, link)
    for (source, sanction_id), unresolved in ledger.unresolved.items():
        out[unresolved_key(source, sanction_id)] = unresolved.to_json()
    return out


def _unwarned(group_id: str, incident_id: str, time: datetime) -> bytes:
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
        self._baseline: dict[str, dict[FactKey, SanctionLink]] = {}
        self._unresolved: dict[FactKey, UnresolvedSanction] = {}
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

    def unresolved(self) -> dict[FactKey, UnresolvedSanction]:
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
