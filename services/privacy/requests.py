"""Data subjects' requests as the `data-protection` topic records them: pure functions that fold the
records into cases, check a correction's linked events, and render the officer's report.

A case is opened (`RequestOpened`), may erase persons (`PersonsErased`, basis request) and is closed
once (`RequestClosed`). The correction workflow: the agency retracts the contested event
(`gvi.event.retracted.v1`) and posts the corrected event under a new id; the officer then closes the
request as corrected, linking both, and `check_correction` finds them in the source topics.
The rewraps' records (`KeysRewrapped`) answer no request: the report shows the last one below the
requests (`last_rewrap`, `describe_rewrap`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.contracts.envelope import CloudEvent
from services.contracts.events import EventRetracted
from services.contracts.protection import (
    DataProtectionRecord,
    KeysRewrapped,
    PersonsErased,
    RequestClosed,
    RequestOpened,
)
from services.contracts.topics import RETRACTION_TYPE

__all__ = ["Case", "cases", "check_correction", "describe_rewrap", "last_rewrap", "parse_event_ref",
           "render_report"]


@dataclass
class Case:
    opened: RequestOpened
    erased: list[PersonsErased] = field(default_factory=list)
    closed: RequestClosed | None = None

    @property
    def is_open(self) -> bool:
        return self.closed is None

    def age_days(self, now: datetime) -> int:
        return max(0, (now - self.opened.time).days)


def cases(records: Iterable[DataProtectionRecord]) -> dict[str, Case]:
    """Each case number's case, from the records in the order written; records of a case that was
    never opened (and the retention job's and the rewraps') are not a case."""
    found: dict[str, Case] = {}
    for record in records:
        if isinstance(record, RequestOpened):
            found.setdefault(record.case_number, Case(record))
        elif isinstance(record, KeysRewrapped):
            continue
        elif record.case_number is not None and (case := found.get(record.case_number)) is not None:
            if isinstance(record, PersonsErased):
                case.erased.append(record)
            elif case.closed is None:
                case.closed = record
    return found


def parse_event_ref(text: str) -> tuple[str, str]:
    """`"SOURCE ID"` (as the data-protection records write it) as (source, id); ValueError if not."""
    parts = text.split()
    if len(parts) != 2:
        raise ValueError(f"an event is named as \"SOURCE ID\" (two words), not {text!r}")
    return parts[0], parts[1]


def check_correction(contested: str | None, linked: Sequence[str], events: Iterable[CloudEvent]) -> list[str]:
    """What is wrong with closing a correction as corrected, linking `linked`: each linked event
    must exist; one must be a retraction (of the contested event, when the request named it) and
    one the corrected event, which is no retraction. Empty when all is well."""
    by_key = {(e.source, e.id): e for e in events}
    problems, retractions, corrected = [], [], []
    for text in linked:
        key = parse_event_ref(text)
        event = by_key.get(key)
        if event is None:
            problems.append(f"linked event {text!r} is not in the source topics")
        elif event.type == RETRACTION_TYPE and isinstance(event.data, EventRetracted):
            retractions.append((event.source, event.data.retracted_event_id))
        else:
            corrected.append(key)
    if problems:
        return problems
    if contested is not None:
        target = parse_event_ref(contested)
        if target not in retractions:
            problems.append(f"no linked event retracts the contested event {contested!r}")
        if target in corrected:
            problems.append("the contested event itself cannot be the corrected event")
    elif not retractions:
        problems.append("no linked event is a retraction (gvi.event.retracted.v1)")
    if not corrected:
        problems.append("no linked event is the corrected event (an event that is not a retraction)")
    return problems


_COLUMNS = ("case", "kind", "opened", "age_days", "status", "reason")


def _rows(found: Iterable[Case], now: datetime, include_closed: bool) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for case in sorted(found, key=lambda c: (c.opened.time, c.opened.case_number)):
        if not include_closed and not case.is_open:
            continue
        status = "open" if case.closed is None else f"closed: {case.closed.outcome.value}"
        rows.append((case.opened.case_number, case.opened.kind.value,
                     case.opened.time.isoformat().replace("+00:00", "Z"), str(case.age_days(now)),
                     status, case.opened.reason))
    return rows


def render_report(found: Iterable[Case], now: datetime, *, include_closed: bool = False,
                  fmt: str = "text") -> str:
    """The open requests (with `include_closed`, every request), oldest first, as text or CSV."""
    rows = _rows(found, now, include_closed)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_COLUMNS)
        writer.writerows(rows)
        return out.getvalue()
    if not rows:
        return "no open requests\n" if not include_closed else "no requests\n"
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(_COLUMNS[:-1])]
    lines = ["  ".join(c.ljust(w) for c, w in zip(_COLUMNS[:-1], widths, strict=True)) + "  reason"]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1] for r in rows]
    return "\n".join(lines) + "\n"


def last_rewrap(records: Iterable[DataProtectionRecord]) -> KeysRewrapped | None:
    """The latest `KeysRewrapped` record (by its time), if any."""
    rewraps = [record for record in records if isinstance(record, KeysRewrapped)]
    return max(rewraps, key=lambda record: record.time, default=None)


def describe_rewrap(record: KeysRewrapped) -> str:
    """One line: when the master key was last rotated, by how much, and what each key holds after."""
    source = ", ".join(record.rewrapped_from) or "no previous key"
    holds = [f"{count} under {fingerprint}" + (" (current)" if fingerprint == record.master else "")
             for fingerprint, count in sorted(record.live_claims.items(),
                                              key=lambda item: (item[0] != record.master, item[0]))]
    if record.live_claims_other_keys:
        holds.append(f"{record.live_claims_other_keys} under keys not given to the rewrap")
    erased = f", {record.erased_meanwhile} erased meanwhile" if record.erased_meanwhile else ""
    return (f"last master key rewrap: {record.time.isoformat().replace('+00:00', 'Z')}, "
            f"{record.rewrapped} claim(s) re-wrapped from {source} to {record.master}{erased}; "
            f"live claims afterwards: {', '.join(holds)}")
