"""The groups board as scripts read it (`GET /api/groups`): kept between requests but never stale,
the same answer on the fast path and through the router, revalidated by ETag; and the load at start,
which skips the group-state records that a later one of the same key replaces."""

from __future__ import annotations

import json
from datetime import timedelta

from services.dashboard.readmodel.access import AccessLogView
from services.dashboard.readmodel.model import ReadModel
from services.dashboard.readmodel.records import Changes, RecordApplier, current_only
from services.followthrough import Ledger, records_for
from tests.unit.dashboard.pipeline import Pipeline
from tests.unit.dashboard.test_dashboard_brief import scenario_events
from tests.unit.dashboard.test_dashboard_http import Harness
from tests.unit.domain import builders as b


def _line(dash: Harness, group: str, headers: dict[str, str]) -> dict[str, object]:
    answer = dash.client.get("/api/groups", headers=headers)
    assert answer.status_code == 200
    [line] = [g for g in answer.json() if g["group_id"] == group]
    return line  # type: ignore[no-any-return]


def test_the_board_counts_a_case_as_stalled_once_the_clock_passes_the_threshold(dash: Harness) -> None:
    dash.pipe.post(b.registered("g9", "vastra", "Västra"), b.warning("w9", "vastra", 60),
                   b.incident("r9", "i9", 65, ["vastra"]))
    dash.clock.now = b.at(65) + timedelta(days=14) - timedelta(seconds=1)
    headers = dash.token("operator")
    line = _line(dash, "vastra", headers)
    assert line["open_case_count"] == 1 and line["stalled_case_count"] == 0
    dash.clock.now += timedelta(seconds=1)
    assert _line(dash, "vastra", headers)["stalled_case_count"] == 1
    dash.pipe.post(b.sanction("s9", 80, group="vastra", incident="i9"))      # a change of the group
    line = _line(dash, "vastra", headers)
    assert line["open_case_count"] == 0 and line["stalled_case_count"] == 0


def test_the_board_is_what_the_read_model_summarises_field_for_field(dash: Harness) -> None:
    headers = dash.token("operator")
    board = dash.client.get("/api/groups", headers=headers).json()
    expected = [s.model_dump(mode="json") for s in dash.pipe.model.summaries(dash.clock())]
    assert board == expected and [g["group_id"] for g in board] == sorted(g["group_id"] for g in board)
    assert list(board[0]) == list(expected[0])                                 # the same key order


def test_an_unchanged_board_is_a_304_by_its_etag_and_a_change_gives_a_new_one(dash: Harness) -> None:
    headers = dash.token("operator")
    first = dash.client.get("/api/groups", headers=headers)
    etag = first.headers["etag"]
    again = dash.client.get("/api/groups", headers={**headers, "if-none-match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert again.headers["x-frame-options"] == "DENY"
    other = dash.client.get("/api/groups", headers={**headers, "if-none-match": '"something-else"'})
    assert other.status_code == 200 and other.content == first.content
    dash.pipe.post(b.registered("g8", "ostra", "Östra"))
    changed = dash.client.get("/api/groups", headers={**headers, "if-none-match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert any(g["group_id"] == "ostra" for g in changed.json())
    refused = dash.client.get("/api/groups", headers={"if-none-match": changed.headers["etag"]})
    assert refused.status_code == 401                                          # no credentials, no 304


def test_the_board_for_a_session_and_for_every_role_is_the_same_document(dash: Harness) -> None:
    bodies = {dash.client.get("/api/groups", headers=dash.token(role)).content
              for role in ("operator", "analyst", "auditor")}
    dash.login("operator")
    bodies.add(dash.client.get("/api/groups").content)
    assert len(bodies) == 1
    assert "person_ref" not in bodies.pop().decode()


def test_board_reads_are_counted_under_their_route(dash: Harness) -> None:
    headers = dash.token("operator")
    for _ in range(3):
        dash.client.get("/api/groups", headers=headers)
    dash.client.get("/api/groups")
    metrics = dash.client.get("/metrics").text
    assert 'gvi_http_requests_total{method="GET",route="/api/groups",service="dashboard",status="200"} 3.0' \
        in metrics
    assert 'route="/api/groups",service="dashboard",status="401"} 1.0' in metrics


def test_a_token_stays_refused_after_expiry_and_as_the_other_kind(dash: Harness) -> None:
    headers = dash.token("operator")
    assert dash.client.get("/api/groups", headers=headers).status_code == 200   # its claims are remembered
    dash.login("operator")
    session = dash.client.cookies.get("gvi_session")
    assert dash.client.get("/").status_code == 200
    dash.client.cookies.clear()
    assert dash.client.get("/api/groups", headers={"authorization": f"Bearer {session}"}).status_code == 401
    dash.client.cookies.set("gvi_session", headers["authorization"].removeprefix("Bearer "))
    assert dash.client.get("/api/me").status_code == 401
    dash.client.cookies.clear()
    dash.clock.now += timedelta(minutes=61)
    assert dash.client.get("/api/groups", headers=headers).status_code == 401


def _processor_records() -> list[tuple[str, bytes | None, bytes | None]]:
    ledger = Ledger()
    out: list[tuple[str, bytes | None, bytes | None]] = []
    for event in scenario_events():
        out.append(("notifications", None, event.to_json()))
        for key, value in records_for(ledger, ledger.apply(event)):
            out.append(("group-state", key, value))
    return out


def test_loading_only_the_last_record_of_each_key_gives_the_same_read_model() -> None:
    records = _processor_records()
    keys = [key for topic, key, _ in records if topic == "group-state"]
    assert len(set(keys)) < len(keys)                       # the scenario replaces records
    every = RecordApplier(ReadModel(), AccessLogView())
    every_changes = Changes()
    for topic, key, value in records:
        every.apply(topic, key, value, 0, changes=every_changes)
    skipping = RecordApplier(ReadModel(), AccessLogView())
    changes = Changes()
    for topic in ("notifications", "group-state"):
        run = [(key, value) for t, key, value in records if t == topic]
        kept = current_only(topic, run, lambda r: r[0])
        assert len(kept) == (len(run) if topic != "group-state" else len(set(keys)))
        for key, value in kept:
            skipping.apply(topic, key, value, 0, changes=changes)
    assert changes.groups == every_changes.groups and changes.sources == every_changes.sources
    assert skipping.model.groups() == every.model.groups()
    now = b.at(70)
    assert skipping.model.board_document(now) == every.model.board_document(now)
    assert json.loads(every.model.board_document(now)) == [
        s.model_dump(mode="json") for s in Pipeline(applier=every).model.summaries(now)]
