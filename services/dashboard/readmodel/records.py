"""From Kafka records to the read model: the one place that decodes what the dashboard consumes.

Pure (records in, changes out), so the same code runs behind the Kafka feed and in the unit tests.

* `group-state`: the processor's records, put back together by the rules' own `StateView`;
* `alerts`: raises and withdrawals, deduplicated on the alert id;
* `incidents`, `notifications`, `sanctions`: the CloudEvents the statistics, briefs and call-in
  pages need (`sources.KEPT_TYPES`); other types, and sanctions other than probation actions, are
  skipped before they are parsed;
* `access-log`: the entries the auditors' page lists.

A record that cannot be decoded is skipped and counted, never fatal: one bad record must not stop the
dashboard from showing everything else.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

from services.contracts import (
    ACCESS_LOG_TOPIC,
    ALERTS_TOPIC,
    GROUP_STATE_TOPIC,
    SOURCE_TOPIC_NAMES,
    EventInvalid,
    parse_event,
)
from services.contracts.access import AccessEntry, Resource
from services.contracts.events import SanctionKind
from services.contracts.group_state import GroupState, GroupSummary
from services.contracts.group_state_records import StateView
from services.dashboard.readmodel.access import AccessLogView
from services.dashboard.readmodel.model import AlertEntry, ReadModel
from services.dashboard.readmodel.sources import KEPT_TYPES, Domain
from services.followthrough import Fact

R = TypeVar("R")
_SANCTION = "gvi.sanction.recorded.v1"

__all__ = ["CONSUMED_TOPICS", "Changes", "RecordApplier", "current_only"]

SOURCE_TOPICS_READ = SOURCE_TOPIC_NAMES
CONSUMED_TOPICS = (GROUP_STATE_TOPIC, ALERTS_TOPIC, *SOURCE_TOPICS_READ, ACCESS_LOG_TOPIC)


@dataclass
class Changes:
    """What a run of records changed: what the live pages must refresh."""

    groups: set[str] = field(default_factory=set)
    alerts: list[AlertEntry] = field(default_factory=list)
    sources: set[tuple[Domain, str]] = field(default_factory=set)
    access: list[AccessEntry] = field(default_factory=list)
    skipped: int = 0

    def __bool__(self) -> bool:
        return bool(self.groups or self.alerts or self.sources or self.access)


def current_only(topic: str, records: Sequence[R], key: Callable[[R], bytes | None]) -> Sequence[R]:
    """The records of one partition's run that still count: on the compacted `group-state` topic
    only the last record of each key (a record there replaces the one before it, so applying the
    earlier ones would only be undone; at start the topic holds many superseded records that
    compaction has not removed yet); every record of the other topics."""
    if topic != GROUP_STATE_TOPIC or len(records) < 2:
        return records
    last = {key(r): i for i, r in enumerate(records)}
    if len(last) == len(records):
        return records
    return [r for i, r in enumerate(records) if last[key(r)] == i]


class RecordApplier:
    def __init__(self, model: ReadModel, access_log: AccessLogView,
                 on_logout: Callable[[AccessEntry], None] | None = None) -> None:
        self.model = model
        self.access_log = access_log
        self._on_logout = on_logout  # a session ended at any replica: refused here too
        self._view = StateView()
        model.unresolved_source = self._view.unresolved

    def apply(self, topic: str, key: bytes | None, value: bytes | None, timestamp_ms: int, *,
              partition: int | None = None, offset: int | None = None,
              changes: Changes | None = None) -> Changes:
        """Take one record; add what it changed to `changes` (a new one if not given) and return it."""
        out = changes if changes is not None else Changes()
        try:
            if topic == GROUP_STATE_TOPIC:
                self._group_state(key, value, out)
            elif topic == ALERTS_TOPIC:
                self._alert(value, timestamp_ms, out)
            elif topic in SOURCE_TOPICS_READ:
                self._source(topic, value, partition, offset, out)
            elif topic == ACCESS_LOG_TOPIC:
                entry = self.access_log.apply(value)
                if entry is None:
                    out.skipped += 1
                else:
                    out.access.append(entry)
                    if entry.resource is Resource.SESSION and self._on_logout is not None:
                        self._on_logout(entry)
        except (ValueError, KeyError, TypeError):
            out.skipped += 1
        return out

    def _group_state(self, key: bytes | None, value: bytes | None, out: Changes) -> None:
        if key is None:
            raise ValueError("a group-state record without a key")
        changed = self._view.apply(key, value)
        if not changed:                                   # an unresolved sanction's record
            self.model.version += 1
        for group_id in changed:
            self.model.group_changed(group_id, partial(self._current, group_id))
            out.groups.add(group_id)

    def _current(self, group_id: str) -> tuple[GroupState | None, GroupSummary | None]:
        return self._view.group(group_id), self._view.summary(group_id)

    def _alert(self, value: bytes | None, timestamp_ms: int, out: Changes) -> None:
        if value is None:
            return
        entry = self.model.apply_alert(value, datetime.fromtimestamp(timestamp_ms / 1000, UTC))
        if entry is not None:
            out.alerts.append(entry)

    def _source(self, topic: str, value: bytes | None, partition: int | None, offset: int | None,
                out: Changes) -> None:
        if value is None:
            return
        raw = json.loads(value)
        if not isinstance(raw, dict) or raw.get("type") not in KEPT_TYPES:
            return
        if raw["type"] == _SANCTION and (not isinstance(raw.get("data"), dict)
                                         or raw["data"].get("kind") != SanctionKind.PROBATION_ACTION.value):
            return  # only probation actions are kept (sources.py)
        try:
            event = parse_event(raw, allow_intake_attributes=True)
        except EventInvalid as exc:
            raise ValueError("a source record that breaks the contract") from exc
        out.sources |= self.model.sources.add(Fact.from_event(event, topic=topic, partition=partition,
                                                              offset=offset), sealed=event.sealed)
