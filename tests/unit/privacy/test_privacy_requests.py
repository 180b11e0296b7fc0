"""Requests folded from the data-protection records, the officer's report, and the check of a
correction's linked events."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from services.contracts.envelope import CloudEvent, read_event
from services.contracts.protection import (
    Basis,
    Outcome,
    PersonsErased,
    RequestClosed,
    RequestKind,
    RequestOpened,
)
from services.privacy.requests import cases, check_correction, render_report
from tests.examples import example_event

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
POLICE = "/agencies/police"


def opened(case: str, kind: RequestKind = RequestKind.ERASURE, days: int = 0, **kw: Any) -> RequestOpened:
    return RequestOpened(record_id=f"o-{case}", time=T0 + timedelta(days=days), officer="dpo",
                         case_number=case, kind=kind, reason=f"reason of {case}", **kw)


def closed(case: str, outcome: Outcome = Outcome.REFUSED) -> RequestClosed:
    return RequestClosed(record_id=f"c-{case}", time=T0 + timedelta(days=9), officer="dpo", case_number=case,
                         outcome=outcome, reason="decided")


def test_cases_fold_the_records_and_the_report_lists_the_open_ones_oldest_first() -> None:
    erased = PersonsErased(record_id="e", time=T0, officer="dpo", basis=Basis.REQUEST, case_number="DP-1",
                           reason="r", pseudonyms=("psn-" + "a" * 26,), persons=1)
    retention = PersonsErased(record_id="r", time=T0, officer="retention-job", basis=Basis.RETENTION,
                              reason="r", pseudonyms=(), persons=0)
    found = cases([opened("DP-2", days=3), opened("DP-1"), erased, retention, closed("DP-1", Outcome.ERASED),
                   opened("DP-3", RequestKind.CORRECTION, days=5, contested_event=f"{POLICE} e-1")])
    assert set(found) == {"DP-1", "DP-2", "DP-3"}
    assert found["DP-1"].erased == [erased] and not found["DP-1"].is_open
    now = T0 + timedelta(days=10, hours=1)
    text = render_report(found.values(), now)
    lines = text.splitlines()
    assert lines[0].split()[:5] == ["case", "kind", "opened", "age_days", "status"]
    assert [line.split()[0] for line in lines[1:]] == ["DP-2", "DP-3"]
    assert lines[1].split()[3] == "7" and lines[1].endswith("reason of DP-2")
    report = render_report(found.values(), now, include_closed=True, fmt="csv")
    rows = list(csv.DictReader(io.StringIO(report)))
    assert [(r["case"], r["status"]) for r in rows] == [("DP-1", "closed: erased"), ("DP-2", "open"),
                                                       ("DP-3", "open")]
    assert rows[2]["kind"] == "correction" and rows[0]["opened"] == "2026-11-01T09:00:00Z"
    assert render_report([], now) == "no open requests\n"


def test_a_second_close_of_a_case_does_not_replace_the_first() -> None:
    found = cases([opened("DP-9"), closed("DP-9", Outcome.REFUSED), closed("DP-9", Outcome.CORRECTED)])
    assert found["DP-9"].closed is not None and found["DP-9"].closed.outcome is Outcome.REFUSED


def _event(event_type: str, source: str = POLICE, **data: Any) -> CloudEvent:
    return read_event(json.dumps(example_event(event_type, source=source, data_overrides=data)).encode())


def test_a_correction_links_a_retraction_of_the_contested_event_and_the_corrected_event() -> None:
    contested = _event("gvi.membership.assessed.v1")
    retraction = _event("gvi.event.retracted.v1", retracted_event_id=contested.id)
    corrected = _event("gvi.membership.assessed.v1")
    events = [contested, retraction, corrected]
    name = {e.id: f"{e.source} {e.id}" for e in events}
    assert check_correction(name[contested.id], [name[retraction.id], name[corrected.id]], events) == []
    missing = check_correction(name[contested.id], [name[retraction.id], f"{POLICE} no-such-id"], events)
    assert missing == [f"linked event '{POLICE} no-such-id' is not in the source topics"]
    assert check_correction(name[contested.id], [name[corrected.id]], events) == [
        f"no linked event retracts the contested event {name[contested.id]!r}"]
    assert check_correction(name[contested.id], [name[retraction.id]], events) == [
        "no linked event is the corrected event (an event that is not a retraction)"]
    other_agency = f"/agencies/probation {contested.id}"  # only its own agency's events are retracted
    assert "retracts the contested event" in check_correction(other_agency, [name[retraction.id],
                                                                             name[corrected.id]], events)[0]
