"""Alert triage (issue 21): the coordinators acknowledge, assign and resolve alerts from the alerts
page, through the data-entry framework, as `gvi.alert.triaged.v1` events posted to a real
notifications intake over HTTP; the read model shows each alert's triage from those events (a
retraction taking one back), the alerts page filters the open ones and the board counts them."""

from __future__ import annotations

import html
import re

from fastapi import FastAPI

from services.contracts import parse_event
from services.contracts.access import Resource
from services.contracts.alerts import AlertKind, alert_id
from services.contracts.events import TriageAction
from services.dashboard.readmodel.records import RecordApplier
from tests.unit.dashboard import test_dashboard_data_entry as data_entry
from tests.unit.dashboard.pipeline import Pipeline
from tests.unit.dashboard.test_dashboard_data_entry import Desk, Intake, key_of, published
from tests.unit.domain import builders as b

intake = data_entry.intake  # the fixtures: a real notifications intake over HTTP, a dashboard posting to it
desk = data_entry.desk

RISK_B = alert_id(AlertKind.RETALIATION_RISK, "gb", "i1")
RISK_C = alert_id(AlertKind.RETALIATION_RISK, "gc", "i1")


def _risky() -> Pipeline:
    """Two retaliation-risk alerts of incident i1: for gb (its victims) and gc (in conflict with gb)."""
    pipe = Pipeline()
    pipe.post(b.registered("g1", "gb", "Bågen"), b.registered("g2", "gc", "Cirkeln"),
              b.relation("rel1", "gc", "gb", 1), b.incident("r1", "i1", 10, ["ga"], victims=["gb"]))
    assert {a.alert_id for a in pipe.model.alerts()} >= {RISK_B, RISK_C}
    return pipe


def test_an_alerts_triage_is_the_latest_event_that_counts_and_a_retraction_takes_one_back() -> None:
    pipe = _risky()
    sources = pipe.model.sources
    assert sources.triage(RISK_B) is None
    pipe.post(b.triaged("t1", RISK_B, "acknowledged", 11))
    seen = sources.triage(RISK_B)
    assert seen is not None and (seen.state, seen.agency, seen.assignee) == (
        TriageAction.ACKNOWLEDGED, "municipality", None)
    pipe.post(b.triaged("t3", RISK_B, "resolved", 13, note="Met the families; calm."),
              b.triaged("t2", RISK_B, "assigned", 12, assignee="coordinator"))  # out of order
    done = sources.triage(RISK_B)
    assert done is not None and done.resolved
    assert (done.assignee, done.note) == ("coordinator", "Met the families; calm.")
    assert not pipe.model.is_open(pipe.model.alert(RISK_B))  # type: ignore[arg-type]
    assert RISK_B not in {a.alert_id for a in pipe.model.alerts(open_only=True)}
    assert RISK_C in {a.alert_id for a in pipe.model.alerts(open_only=True)}

    pipe.post(b.retraction("x1", "t3", 14, source=b.MUNICIPALITY))  # the resolution taken back
    back = sources.triage(RISK_B)
    assert back is not None and (back.state, back.assignee, back.note) == (
        TriageAction.ASSIGNED, "coordinator", None)
    assert RISK_B in {a.alert_id for a in pipe.model.alerts(open_only=True)}
    pipe.post(b.retraction("x2", "t2", 14, source=b.MUNICIPALITY),
              b.retraction("x3", "t1", 14, source=b.MUNICIPALITY))
    assert sources.triage(RISK_B) is None


def test_the_open_alerts_per_group_leave_out_resolved_and_withdrawn_ones() -> None:
    pipe = _risky()
    before = pipe.model.open_alert_counts()
    assert before["gb"] >= 1 and before["gc"] >= 1
    pipe.post(b.triaged("t1", RISK_C, "resolved", 11, note="Mediated."))
    assert pipe.model.open_alert_counts().get("gc", 0) == before["gc"] - 1
    pipe.post(b.triaged("t2", RISK_B, "acknowledged", 11))  # acknowledged is still open
    assert pipe.model.open_alert_counts()["gb"] == before["gb"]
    pipe.post(b.relation_ended("e1", "gc", "gb", 12))  # gc's risk withdrawn by the rules
    assert pipe.model.alert(RISK_C) is not None and not pipe.model.alert(RISK_C).active  # type: ignore[union-attr]
    assert pipe.model.open_alert_counts().get("gc", 0) == 0


def _feed_back(desk: Desk, intake: Intake, event_id: str) -> None:
    """What the intake published, read by the dashboard as from the `notifications` topic."""
    app = desk.client.app
    assert isinstance(app, FastAPI)
    applier: RecordApplier = app.state.applier
    for raw in published(intake, event_id):
        Pipeline(applier=applier).post(parse_event(raw, allow_intake_attributes=True))


def _buttons(page: str, alert: str) -> dict[str, str]:
    """The hidden fields of the alert's acknowledge button."""
    found = re.search(rf'data-alert="{alert}".*?<form method="post" action="/enter/alert-triage"(.*?)</form>',
                      page, re.S)
    assert found is not None, "no triage form for the alert"
    return {name: html.unescape(value) for name, value in
            re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', found.group(1))}


def _first_alert(page: str) -> str:
    found = re.search(r'data-alert="([0-9a-f]{64})"', page)
    assert found is not None
    return found.group(1)


def test_a_coordinator_acknowledges_assigns_and_resolves_an_alert_from_the_alerts_page(
        desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    page = desk.client.get("/alerts")
    assert page.status_code == 200
    alert = _first_alert(page.text)
    fields = _buttons(page.text, alert)
    assert (fields["action"], fields["alert_id"]) == ("acknowledged", alert)
    answer = desk.client.post("/enter/alert-triage", data=fields, follow_redirects=False)
    assert answer.status_code == 200, answer.text
    assert 'id="back-to-alerts"' in answer.text
    [event] = published(intake, fields["event_id"])
    assert (event["type"], event["source"], event["data"]) == (
        "gvi.alert.triaged.v1", "/agencies/municipality", {"alert_id": alert, "action": "acknowledged"})
    assert key_of(intake, fields["event_id"]) == f"alert:{alert}"
    [entry] = [e for e in desk.access.entries if e.resource is Resource.DATA_ENTRY]
    assert (entry.user, entry.resource_id) == ("coordinator", fields["event_id"])
    again = desk.client.post("/enter/alert-triage", data=fields, follow_redirects=False)
    assert again.status_code == 200 and len(published(intake, fields["event_id"])) == 1  # recorded once

    _feed_back(desk, intake, fields["event_id"])
    shown = desk.client.get("/alerts").text
    item = re.search(rf'<li [^>]*data-alert="{alert}".*?</li>', shown, re.S)
    assert item is not None and 'data-triage="acknowledged"' in item.group(0)
    assert "Acknowledge</button>" not in item.group(0)  # acknowledged once is enough

    form = desk.client.get(f"/enter/alert-triage?alert_id={alert}&action=resolved")
    assert form.status_code == 200 and f'value="{alert}"' in form.text
    assert '<option value="resolved" selected>' in form.text
    hidden = {name: html.unescape(value) for name, value in
              re.findall(r'name="(csrf_token|event_id|time)"[^>]* value="([^"]*)"', form.text)}
    refused = desk.send("alert-triage", {"alert_id": alert, "action": "resolved"}, hidden)
    assert refused.status_code == 422  # the intake's own rule: a resolution says how
    refusal = re.search(r'id="entry-refused">(.*?)</div>', refused.text, re.S)
    assert refusal is not None and "an alert resolved must say how in its note" in refusal.group(1)
    assert not published(intake, hidden["event_id"])

    assign = desk.open("alert-triage")
    assert desk.send("alert-triage", {"alert_id": alert, "action": "assigned", "assignee": "civil"},
                     assign).status_code == 200
    resolved = desk.send("alert-triage", {"alert_id": alert, "action": "resolved",
                                          "note": "Talked with the families."}, hidden)
    assert resolved.status_code == 200, resolved.text
    _feed_back(desk, intake, assign["event_id"])
    _feed_back(desk, intake, hidden["event_id"])
    item = re.search(rf'<li [^>]*data-alert="{alert}".*?</li>', desk.client.get("/alerts").text, re.S)
    assert item is not None and 'data-triage="resolved"' in item.group(0)
    assert "civil" in item.group(0) and "Talked with the families." in item.group(0)
    assert f'data-alert="{alert}"' not in desk.client.get("/alerts?open_only=true").text
    [listed] = [a for a in desk.client.get("/api/alerts").json() if a["alert_id"] == alert]
    assert {k: listed["triage"][k] for k in ("state", "agency", "assignee", "note")} == {
        "state": "resolved", "agency": "municipality", "assignee": "civil",
        "note": "Talked with the families."}
    assert alert not in {a["alert_id"] for a in desk.client.get("/api/alerts?open_only=true").json()}
    swedish = desk.client.get("/language/sv?next=/alerts").text
    assert "åtgärdat" in swedish and "Endast öppna larm" in swedish


def test_the_board_counts_open_alerts_per_group(desk: Desk) -> None:
    desk.login("operator")
    board = desk.client.get("/")
    assert board.status_code == 200
    app = desk.client.app
    assert isinstance(app, FastAPI)
    counts = app.state.applier.model.open_alert_counts()
    row = re.search(r'<tr data-group="norra".*?</tr>', board.text, re.S)
    assert row is not None
    assert f'<td class="num open-alerts">{counts.get("norra", 0)}</td>' in row.group(0)
    assert counts.get("norra", 0) > 0


def test_a_user_who_does_not_enter_data_sees_no_triage_buttons(desk: Desk) -> None:
    desk.login("operator")
    page = desk.client.get("/alerts")
    assert page.status_code == 200 and 'data-alert="' in page.text
    assert "/enter/alert-triage" not in page.text
    desk.login("civil")  # enters for civil society, whose forms do not include triage
    assert "/enter/alert-triage" not in desk.client.get("/alerts").text
    assert desk.client.get("/enter/alert-triage").status_code == 403
