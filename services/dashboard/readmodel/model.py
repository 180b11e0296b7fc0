"""The dashboard's read model: the processor's group states and alerts, the source facts the
statistics and briefs need, and the views the pages and the JSON API show.

Pure: records come in as values (the Kafka edge decodes nothing but bytes into them), and every view
that depends on the clock takes `now` as an argument. Nothing in here reads a clock, a socket or a
file, so the tests drive it with the rules' own outputs.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from services.contracts.alerts import AlertKind
from services.contracts.group_state import (
    CaseState,
    CaseStatus,
    GroupState,
    GroupStatus,
    GroupSummary,
    SanctionLink,
    UnresolvedSanction,
)
from services.dashboard.readmodel.sources import SourceFacts
from services.followthrough import FactKey, is_stalled

__all__ = ["AlertEntry", "CaseFilter", "CaseRow", "GroupSummaryRow", "LinkRow", "ReadModel",
           "agency_of"]

GroupSource = Callable[[], tuple[GroupState | None, GroupSummary | None]]
"""What a group's state is now, and the processor's summary record of it (asked for when read)."""
UnresolvedSource = Callable[[], Mapping[FactKey, UnresolvedSanction]]
"""The processor's current unresolved sanctions (its `unresolved` records of `group-state`)."""


def _none_unresolved() -> Mapping[FactKey, UnresolvedSanction]:
    return {}


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GroupSummaryRow(_View):
    """One line of the groups board (`GET /api/groups`)."""

    group_id: str
    name: str | None
    area: str | None
    status: GroupStatus
    warned_since: datetime | None
    warning_count: int
    case_count: int
    open_case_count: int
    stalled_case_count: int
    last_incident_id: str | None
    last_incident_time: datetime | None


class LinkRow(_View):
    sanction_id: str
    kind: str
    agency: str
    time: datetime
    days_after_incident: float


class CaseRow(_View):
    """A case as the cases page shows it (`GET /api/cases`)."""

    group_id: str
    group_name: str | None
    incident_id: str
    incident_time: datetime
    incident_kind: str | None
    area: str | None
    warning_id: str
    warning_channel: str | None
    warning_time: datetime | None
    status: CaseStatus
    days_since_incident: float
    stalled: bool
    days_to_first_sanction: float | None
    sanctions: tuple[LinkRow, ...]


class AlertEntry(_View):
    """An alert from the `alerts` topic; `raised_at` is its record's Kafka timestamp, `withdrawn_at`
    set once a withdrawal of the same id followed."""

    alert_id: str
    kind: AlertKind
    group_id: str
    incident_id: str
    rule_version: int
    raised_at: datetime
    withdrawn_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None


_RAISED_FIELDS = {"alert_id", "kind", "group_id", "incident_id", "rule_version", "raised_at"}


class _AlertRecord(_View):
    alert_id: str
    kind: AlertKind
    group_id: str
    incident_id: str
    rule_version: int
    withdrawn: bool = False


class CaseFilter:
    """`status` of `GET /api/cases`: a case status, `open` (awaiting a sanction), `stalled` (open
    past the stall threshold) or `all`."""

    CHOICES = ("all", "open", "stalled", *(s.value for s in CaseStatus))

    @staticmethod
    def matches(choice: str, row: CaseRow) -> bool:
        if choice == "all":
            return True
        if choice == "open":
            return row.status is CaseStatus.AWAITING_SANCTION
        if choice == "stalled":
            return row.stalled
        return row.status.value == choice


def agency_of(link: SanctionLink) -> str:
    """The agency that posted the sanction; older records without it fall back to the source's
    last path segment (`/agencies/police` -> `police`)."""
    return link.agency or link.source.rstrip("/").rsplit("/", 1)[-1]


def days(delta: timedelta) -> float:
    return round(delta / timedelta(days=1), 2)


@dataclass
class _BoardLine:
    """A group's board line without its stalled-case count (the only part that depends on the
    clock), and the incident times of its open cases in order: the stalled ones are a prefix of
    them, since the stall rule only ever turns true as time passes."""

    row: GroupSummaryRow
    open_times: list[datetime]
    sources_version: int


@dataclass
class ReadModel:
    stall_days: int = 14
    sources: SourceFacts = field(default_factory=SourceFacts)
    _groups: dict[str, GroupState] = field(default_factory=dict)
    _alerts: dict[str, AlertEntry] = field(default_factory=dict)
    _summaries: dict[str, GroupSummary] = field(default_factory=dict)
    _pending: dict[str, GroupSource] = field(default_factory=dict)
    _lines: dict[str, _BoardLine] = field(default_factory=dict)
    _board: tuple[tuple[int, int, int], list[int], bytes] | None = None
    unresolved_source: UnresolvedSource = _none_unresolved
    """Set by whoever decodes `group-state` (`RecordApplier`)."""
    version: int = 0
    """Grows with every change of groups or alerts: a cache key for rendered answers."""

    # --- updates ---------------------------------------------------------------------------------

    def put_group(self, group_id: str, state: GroupState | None, summary: GroupSummary | None = None) -> None:
        """A group's state (None: it has none any more), with the processor's summary record if
        known (its `last_incident_*` are then taken from it)."""
        self._pending.pop(group_id, None)
        self._put(group_id, state, summary)
        self.version += 1

    def group_changed(self, group_id: str, source: GroupSource) -> None:
        """A group's state changed; `source` gives it when it is next read. A group changed by many
        records in a row (the load at start, a batch) is put together once, not once per record."""
        self._pending[group_id] = source
        self.version += 1

    def _put(self, group_id: str, state: GroupState | None, summary: GroupSummary | None) -> None:
        self._lines.pop(group_id, None)
        if state is None:
            self._groups.pop(group_id, None)
            self._summaries.pop(group_id, None)
        else:
            self._groups[group_id] = state
            if summary is not None:
                self._summaries[group_id] = summary

    def _settled(self) -> dict[str, GroupState]:
        if self._pending:
            pending, self._pending = self._pending, {}
            for group_id, source in pending.items():
                self._put(group_id, *source())
        return self._groups

    def apply_alert(self, value: bytes, timestamp: datetime) -> AlertEntry | None:
        """Take one record of the `alerts` topic (raise or withdrawal); returns the alert as it now
        stands, or None for a record that is not an alert (skipped). Raising an id that is already
        active changes nothing (the processor may raise again after a restart)."""
        try:
            record = _AlertRecord.model_validate_json(value)
        except ValidationError:
            return None
        current = self._alerts.get(record.alert_id)
        if record.withdrawn:
            if current is None or not current.active:
                return None
            entry = current.model_copy(update={"withdrawn_at": timestamp})
        else:
            if current is not None and current.active:
                return None
            # From the validated record, sharing one set of the fields given: alerts are many (each
            # raise is kept, withdrawn or not), and a set per entry would cost more than the entry.
            entry = AlertEntry.model_construct(
                _RAISED_FIELDS, alert_id=record.alert_id, kind=record.kind, group_id=record.group_id,
                incident_id=record.incident_id, rule_version=record.rule_version, raised_at=timestamp)
        self._alerts[record.alert_id] = entry
        self.version += 1
        return entry

    # --- views -----------------------------------------------------------------------------------

    def group(self, group_id: str) -> GroupState | None:
        return self._settled().get(group_id)

    def groups(self) -> dict[str, GroupState]:
        return self._settled()

    def summary(self, state: GroupState, now: datetime) -> GroupSummaryRow:
        line = self._line(state)
        return line.row.model_copy(update={"stalled_case_count": self._stalled_count(line, now)})

    def _line(self, state: GroupState) -> _BoardLine:
        line = self._lines.get(state.group_id)
        if line is not None and self._groups.get(state.group_id) is state:
            if line.sources_version != self.sources.version:      # the area may have changed
                area = self.sources.group_area(state.group_id)
                if area != line.row.area:
                    line.row = line.row.model_copy(update={"area": area})
                line.sources_version = self.sources.version
            return line
        processor = self._summaries.get(state.group_id)
        if processor is not None:
            last_time, last_id = processor.last_incident_time, processor.last_incident_id
        else:
            last = max(state.cases, key=lambda c: (c.incident_time, c.incident_id), default=None)
            last_time, last_id = (last.incident_time, last.incident_id) if last is not None else (None, None)
        open_times = sorted(c.incident_time for c in state.cases if c.status is CaseStatus.AWAITING_SANCTION)
        row = GroupSummaryRow(
            group_id=state.group_id, name=state.name, area=self.sources.group_area(state.group_id),
            status=state.status, warned_since=state.warned_since, warning_count=len(state.warnings),
            case_count=len(state.cases), open_case_count=len(open_times), stalled_case_count=0,
            last_incident_id=last_id, last_incident_time=last_time)
        line = _BoardLine(row, open_times, self.sources.version)
        if self._groups.get(state.group_id) is state:
            self._lines[state.group_id] = line
        return line

    def _stalled_count(self, line: _BoardLine, now: datetime) -> int:
        return bisect.bisect_left(line.open_times, True,
                                  key=lambda t: not is_stalled(t, now, self.stall_days))

    def summaries(self, now: datetime) -> list[GroupSummaryRow]:
        groups = self._settled()
        return [self.summary(groups[g], now) for g in sorted(groups)]

    def board_document(self, now: datetime) -> bytes:
        """`summaries(now)` as the JSON array `GET /api/groups` answers. Kept between calls: within
        the same second of the clock nothing is computed again unless a group, an alert or an area
        changed; in a new second only the stalled-case counts are, and the document is built again
        only if one of them changed."""
        groups = self._settled()
        second = (self.version, self.sources.version, int(now.timestamp()))
        if self._board is not None and self._board[0] == second:
            return self._board[2]
        lines = [self._line(groups[g]) for g in sorted(groups)]
        counts = [self._stalled_count(line, now) for line in lines]
        if self._board is not None and self._board[0][:2] == second[:2] and self._board[1] == counts:
            body = self._board[2]
        else:
            body = json.dumps([line.row.model_dump(mode="json") | {"stalled_case_count": count}
                               for line, count in zip(lines, counts, strict=True)],
                              ensure_ascii=False).encode()
        self._board = (second, counts, body)
        return body

    def _stalled(self, case: CaseState, now: datetime) -> bool:
        return (case.status is CaseStatus.AWAITING_SANCTION
                and is_stalled(case.incident_time, now, self.stall_days))

    def case_rows(self, now: datetime, status: str = "all",
                  group_ids: Iterable[str] | None = None) -> list[CaseRow]:
        """Cases, the longest-waiting first among open ones, then newest incidents first."""
        rows = []
        groups = self._settled()
        for group_id in sorted(group_ids if group_ids is not None else groups):
            state = groups.get(group_id)
            if state is None:
                continue
            warnings = {w.event_id: w for w in state.warnings}
            for case in state.cases:
                row = self._case_row(state, case, warnings.get(case.warning_id), now)
                if CaseFilter.matches(status, row):
                    rows.append(row)
        rows.sort(key=lambda r: (r.status is not CaseStatus.AWAITING_SANCTION,
                                 -r.days_since_incident if r.status is CaseStatus.AWAITING_SANCTION else 0,
                                 -r.incident_time.timestamp(), r.group_id))
        return rows

    def _case_row(self, state: GroupState, case: CaseState, warning: Any, now: datetime) -> CaseRow:
        incident = self.sources.incident(case.incident_id)
        return CaseRow(
            group_id=state.group_id, group_name=state.name, incident_id=case.incident_id,
            incident_time=case.incident_time, incident_kind=incident.kind if incident else None,
            area=incident.area if incident else None, warning_id=case.warning_id,
            warning_channel=warning.channel if warning is not None else None,
            warning_time=warning.time if warning is not None else None, status=case.status,
            days_since_incident=days(now - case.incident_time), stalled=self._stalled(case, now),
            days_to_first_sanction=case.days_to_first_sanction,
            sanctions=tuple(LinkRow(sanction_id=link.sanction_id, kind=link.kind, agency=agency_of(link),
                                    time=link.time, days_after_incident=days(link.time - case.incident_time))
                            for link in case.links))

    def unresolved_sanctions(self) -> Mapping[FactKey, UnresolvedSanction]:
        """The sanctions the rules could link to no group, by (source, sanction id)."""
        return self.unresolved_source()

    def alerts(self, *, include_withdrawn: bool = False, open_only: bool = False) -> list[AlertEntry]:
        """Newest first; `open_only`: the open ones (active, and not resolved by a triage)."""
        return sorted((a for a in self._alerts.values()
                       if (include_withdrawn or a.active) and not (open_only and not self.is_open(a))),
                      key=lambda a: (a.raised_at, a.alert_id), reverse=True)

    def is_open(self, alert: AlertEntry) -> bool:
        """Active, and not resolved by the coordinators' triage (`triage.py`)."""
        if not alert.active:
            return False
        triage = self.sources.triage(alert.alert_id)
        return triage is None or not triage.resolved

    def open_alert_counts(self) -> dict[str, int]:
        """How many open alerts each group has (groups with none are left out)."""
        counts: dict[str, int] = {}
        for alert in self._alerts.values():
            if self.is_open(alert):
                counts[alert.group_id] = counts.get(alert.group_id, 0) + 1
        return counts

    def alert(self, alert_id: str) -> AlertEntry | None:
        """The alert of that id as it stands (raised, or withdrawn), or None if never raised."""
        return self._alerts.get(alert_id)

    def active_alert_count(self) -> int:
        return sum(1 for a in self._alerts.values() if a.active)

    def cases(self) -> Iterable[tuple[str, CaseState]]:
        for group_id, state in self._settled().items():
            for case in state.cases:
                yield group_id, case
