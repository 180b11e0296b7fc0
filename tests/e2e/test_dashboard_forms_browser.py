"""Every data-entry form, filled and sent in a real headless Chromium with JavaScript off, using the
keyboard, against a real broker with the notifications intake and the dashboard as processes (one
broker, one intake, one dashboard and one browser for the module; the harness is the dashboard
browser test's: Debian's chromium, `DashboardProcess`).

A coordinator of the municipality records a call-in held: the intake's own message for a bad call-in
id stands beside the field with what was typed kept; once corrected, the receipt names the event and
the call-in shows as held on the dashboard. Then the entry is retracted from its receipt's link. An
alert (published to `alerts` as the processor would) is acknowledged from the alerts page's button,
then assigned and resolved through the alerts page's links. In the same session the coordinator
schedules a call-in, records a warning by home visit with promised levers, support offered and
accepted, and an exit milestone (`gvi.exit.milestone.v2`, the milestone chosen from its list).
Every receipt is checked against the event in the `notifications` topic: its type, agency and data.

The group audit: an analyst sees the memberships with person references and the assessments about to
expire, an operator the counts only; both see the relations between groups. A police analyst ends one
relation through the relation-ended form, and once the dashboard has read it the relation is no
longer listed while the other still is.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka import KafkaProducer

from devtools.bench.common import service_process
from services.contracts.alerts import Alert, AlertKind
from services.dashboard.forms import FORMS
from tests.e2e.test_dashboard_browser import (
    ARTIFACTS,
    CHROMIUM_FLAGS,
    DashboardProcess,
    chromium,
    post,
    stamp,
)
from tests.examples import example_event
from tests.integration.test_intake_kafka import read_topic
from tests.privacy_support import opened_events

WAIT_MS = 15_000
MUNICIPALITY = ("/agencies/municipality", "municipality")


@pytest.fixture(scope="module")
def bootstrap(own_kafka_bootstrap: str) -> str:
    return own_kafka_bootstrap


@dataclass(frozen=True)
class Running:
    bootstrap: str
    notifications: str
    dashboard: str
    browser: Any


@pytest.fixture(scope="module")
def running(bootstrap: str) -> Iterator[Running]:
    """The notifications intake, the dashboard (with the development data-entry keys) and a browser,
    shared by the module's tests."""
    from playwright.sync_api import sync_playwright

    executable = chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        notifications = stack.enter_context(service_process("services.notifications", bootstrap))
        dashboard = DashboardProcess(bootstrap)
        dashboard.env.update(GVI_NOTIFICATIONS_URL=notifications,
                             GVI_DATA_ENTRY_KEYS_FILE="deploy/config/data-entry-keys.dev.toml")
        stack.callback(dashboard.stop)
        dashboard.start()
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True,
                                             args=CHROMIUM_FLAGS)
        stack.callback(browser.close)
        yield Running(bootstrap, notifications, dashboard.url, browser)


def events_in(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every committed event of `topic`, read by a consumer that shares nothing with the services,
    with the persons' clear values put back by the partnership's key (in Kafka they are sealed)."""
    return opened_events(bootstrap, topic)


def recorded(bootstrap: str, receipts: dict[str, tuple[str, tuple[str, str]]]) -> dict[str, dict[str, Any]]:
    """The events of the receipts (event id: type, (source, agency)) as in the `notifications` topic,
    each once, of the type and agency its form stands for."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for event in events_in(bootstrap, "notifications"):
        by_id.setdefault(event["id"], []).append(event)
    found = {}
    for event_id, (kind, (source, agency)) in receipts.items():
        [event] = by_id.get(event_id, [])
        assert (event["type"], event["source"], event["agency"]) == (kind, source, agency), event
        found[event_id] = event
    return found


def focus(page: Any, element_id: str, presses: int = 40) -> None:
    """Tab forward until the element has the focus (a date-and-time field takes several Tabs)."""
    for _ in range(presses):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} never got the focus")


def focus_on(page: Any, selector: str, presses: int = 200) -> None:
    """Tab forward until the element `selector` finds has the focus (a link, a checkbox)."""
    for _ in range(presses):
        if page.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} never got the focus")


def type_into(page: Any, element_id: str, text: str) -> None:
    """Tab to the field and type `text` over what it holds (a newline in a text area starts a line)."""
    focus(page, element_id)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)


def choose(page: Any, element_id: str, label: str, value: str) -> None:
    """Tab to a list and pick the choice by typing the start of its label."""
    focus(page, element_id)
    page.keyboard.type(label)
    assert page.locator(f"#{element_id}").input_value() == value


def log_in(running: Running, user: str) -> Any:
    """A new browser context (JavaScript off) logged in as `user` with the keyboard; its page."""
    from playwright.sync_api import expect

    context = running.browser.new_context(java_script_enabled=False, locale="en-GB",
                                          viewport={"width": 1200, "height": 1000})
    page = context.new_page()
    page.goto(f"{running.dashboard}/login")
    focus(page, "username")
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(f"dev-{user}")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{running.dashboard}/")
    return page


def send(page: Any, agency_shown: str) -> str:
    """Tab to the form's Record button and press Enter: the receipt's event id (a UUID), the receipt
    naming the agency."""
    from playwright.sync_api import expect

    focus_on(page, "form.entry button[type=submit]")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Recorded")
    expect(page.locator("#receipt")).to_contain_text(agency_shown)
    event_id = page.locator("#receipt-id").inner_text().strip()
    uuid.UUID(event_id)
    return event_id


def open_form(page: Any, running: Running, name: str, title: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{running.dashboard}/enter/{name}")
    expect(page.locator("h1")).to_have_text(title)


def reload_until(page: Any, url: str, ready: Any, what: str) -> None:
    """Open `url` again (no script: no live updates) until `ready()` holds."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        page.goto(url)
        if ready():
            return
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_a_coordinator_fills_every_municipality_form_with_the_keyboard_and_no_script(
        running: Running) -> None:
    from playwright.sync_api import expect

    uid = uuid.uuid4().hex[:6]
    call_in, group = f"ci-f{uid}", f"grp-f{uid}"
    url = running.dashboard
    receipts: dict[str, tuple[str, tuple[str, str]]] = {}
    context = running.browser.new_context(java_script_enabled=False, locale="en-GB",
                                          viewport={"width": 1200, "height": 1000})
    page = context.new_page()

    page.goto(f"{url}/enter/call-in")
    expect(page).to_have_url(f"{url}/login?next=%2Fenter%2Fcall-in")
    focus(page, "username")
    page.keyboard.type("coordinator")
    page.keyboard.press("Tab")
    page.keyboard.type("dev-coordinator")
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{url}/enter/call-in")
    expect(page.locator("h1")).to_have_text("Call-in held")

    # a call-in id with a space: the intake's own message beside the field, what was typed kept
    focus(page, "f-call_in_id")
    page.keyboard.type(f"ci f{uid}")
    page.keyboard.press("Tab")
    page.keyboard.type(f"{group} mun:s-{uid}-1")
    page.keyboard.press("Enter")
    page.keyboard.type(f"{group} mun:s-{uid}-2")
    focus(page, "f-no_shows")
    page.keyboard.type(f"{group} mun:s-{uid}-3")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "BUTTON"
    page.keyboard.press("Enter")
    expect(page.locator("#e-call_in_id")).to_contain_text("may hold only letters")
    expect(page.locator("#f-attended")).to_have_value(f"{group} mun:s-{uid}-1\n{group} mun:s-{uid}-2")
    page.screenshot(path=str(ARTIFACTS / "form-refused.png"), full_page=True)

    # corrected and sent with Enter from the field
    focus(page, "f-call_in_id")
    page.keyboard.press("Control+A")
    page.keyboard.type(call_in)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Recorded")
    held_id = page.locator("#receipt-id").inner_text().strip()
    uuid.UUID(held_id)
    receipts[held_id] = ("gvi.callin.held.v1", MUNICIPALITY)
    retract_link = page.locator("#retract-entry").get_attribute("href")
    assert retract_link == f"/enter/retraction?retracted_event_id={held_id}"
    page.screenshot(path=str(ARTIFACTS / "form-recorded.png"), full_page=True)
    brief = page.locator(f'a[href="/call-ins/{call_in}/brief"]')
    reload_until(page, f"{url}/call-ins", brief.count, "the call-in never reached the dashboard")

    # retracted from the receipt's link, the event id filled in
    page.goto(f"{url}{retract_link}")
    expect(page.locator("h1")).to_have_text("Retract an entry")
    expect(page.locator("#f-retracted_event_id")).to_have_value(held_id)
    type_into(page, "f-reason", "Entered in error: a test.")
    retraction_id = send(page, "Municipality")
    receipts[retraction_id] = ("gvi.event.retracted.v1", MUNICIPALITY)

    # a call-in scheduled: a date and time typed segment by segment, two groups invited
    open_form(page, running, "call-in-scheduled", "Call-in scheduled")
    type_into(page, "f-call_in_id", f"{call_in}-next")
    focus(page, "f-scheduled_for")
    page.keyboard.type("12122026")
    page.keyboard.press("Tab")
    page.keyboard.type("1400")
    expect(page.locator("#f-scheduled_for")).to_have_value("2026-12-12T14:00")
    type_into(page, "f-location", "Malmö tingsrätt, sal 3")
    type_into(page, "f-invited_group_ids", f"{group}\ngrp-g{uid}")
    scheduled_id = send(page, "Municipality")
    receipts[scheduled_id] = ("gvi.callin.scheduled.v1", MUNICIPALITY)

    # a warning by home visit, two levers promised (checkboxes ticked with Space)
    open_form(page, running, "warning", "Warning delivered (home visit, letter, custom notification)")
    type_into(page, "f-group_id", group)
    choose(page, "f-channel", "home", "home_visit")
    type_into(page, "f-person_ref", f"mun:s-{uid}-1")
    for lever in ("arrest", "asset_seizure"):
        focus_on(page, f'input[name="promised_levers"][value="{lever}"]')
        page.keyboard.press("Space")
    warning_id = send(page, "Municipality")
    receipts[warning_id] = ("gvi.warning.delivered.v1", MUNICIPALITY)

    # support offered, then accepted
    support_ids = []
    for form, title in (("support", "Support offered"), ("support-accepted", "Support accepted")):
        open_form(page, running, form, title)
        type_into(page, "f-group_id", group)
        type_into(page, "f-person_ref", f"mun:s-{uid}-2")
        type_into(page, "f-service", "housing")
        support_ids.append(send(page, "Municipality"))
    receipts[support_ids[0]] = ("gvi.support.offered.v1", MUNICIPALITY)
    receipts[support_ids[1]] = ("gvi.support.accepted.v1", MUNICIPALITY)

    # an exit milestone (gvi.exit.milestone.v2): the milestone chosen from the list
    open_form(page, running, "exit-milestone", "Exit programme milestone")
    type_into(page, "f-group_id", group)
    type_into(page, "f-person_ref", f"mun:s-{uid}-2")
    choose(page, "f-milestone", "left the g", "left_group")
    milestone_id = send(page, "Municipality")
    receipts[milestone_id] = ("gvi.exit.milestone.v2", MUNICIPALITY)

    # an alert acknowledged from the alerts page, with the keyboard
    alert = Alert.of(AlertKind.NO_SHOW_ON_PROBATION, group, call_in)
    producer = KafkaProducer(bootstrap_servers=running.bootstrap)
    producer.send("alerts", key=alert.alert_id.encode(), value=alert.to_json()).get(timeout=20)
    producer.close()
    button = f"ack-{alert.alert_id}"
    reload_until(page, f"{url}/alerts", lambda: page.locator(f"#{button}").count(),
                 "the alert never reached the dashboard")
    focus(page, button, presses=200)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Recorded")
    ack_id = page.locator("#receipt-id").inner_text().strip()
    receipts[ack_id] = ("gvi.alert.triaged.v1", MUNICIPALITY)
    page.locator("#back-to-alerts").click()
    item = page.locator(f'li[data-alert="{alert.alert_id}"] .triage')
    reload_until(page, f"{url}/alerts", lambda: item.get_attribute("data-triage") == "acknowledged",
                 "the acknowledgement never reached the dashboard")
    expect(item).to_contain_text("acknowledged by Municipality")
    page.screenshot(path=str(ARTIFACTS / "alert-acknowledged.png"), full_page=True)

    # assigned, then resolved, through the alerts page's links (the alert and the action filled in)
    triage_ids = []
    for action, field, typed in (("assigned", "f-assignee", "coordinator"),
                                 ("resolved", "f-note", "Met the group's contact; followed up.")):
        focus_on(page, f'li[data-alert="{alert.alert_id}"] a[href$="action={action}"]')
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("Alert triage")
        expect(page.locator("#f-alert_id")).to_have_value(alert.alert_id)
        expect(page.locator("#f-action")).to_have_value(action)
        type_into(page, field, typed)
        triage_ids.append(send(page, "Municipality"))
        receipts[triage_ids[-1]] = ("gvi.alert.triaged.v1", MUNICIPALITY)
        reload_until(page, f"{url}/alerts", lambda a=action: item.get_attribute("data-triage") == a,
                     f"the alert {action} never reached the dashboard")
    expect(item).to_contain_text("resolved by Municipality")
    expect(item.locator(".assignee")).to_have_text("coordinator")
    expect(item.locator(".note")).to_have_text("Met the group's contact; followed up.")
    page.screenshot(path=str(ARTIFACTS / "alert-resolved.png"), full_page=True)
    context.close()

    # every form but the police's (the next test) was sent: a form added to FORMS fails here until filled
    assert {kind for kind, _ in receipts.values()} == {
        spec.event_type for name, spec in FORMS.items() if name != "relation-ended"}
    # every receipt's event in the topic, once, of its type and agency, with what was typed
    events = recorded(running.bootstrap, receipts)
    raw = b"".join(r.value for r in read_topic(running.bootstrap, "notifications"))
    assert f"mun:s-{uid}".encode() not in raw  # in Kafka the persons typed are pseudonyms
    assert events[held_id]["data"] == {
        "call_in_id": call_in,
        "attended": [{"group_id": group, "person_ref": f"mun:s-{uid}-1"},
                     {"group_id": group, "person_ref": f"mun:s-{uid}-2"}],
        "no_shows": [{"group_id": group, "person_ref": f"mun:s-{uid}-3"}]}
    assert events[retraction_id]["data"] == {"retracted_event_id": held_id,
                                             "reason": "Entered in error: a test."}
    scheduled = events[scheduled_id]["data"]
    assert datetime.fromisoformat(scheduled.pop("scheduled_for")) == datetime(2026, 12, 12, 13, 0, tzinfo=UTC)
    assert scheduled == {"call_in_id": f"{call_in}-next", "location": "Malmö tingsrätt, sal 3",
                         "invited_group_ids": [group, f"grp-g{uid}"]}
    assert events[warning_id]["data"] == {"group_id": group, "channel": "home_visit",
                                          "person_ref": f"mun:s-{uid}-1",
                                          "promised_levers": ["arrest", "asset_seizure"]}
    for support_id in support_ids:
        assert events[support_id]["data"] == {"group_id": group, "person_ref": f"mun:s-{uid}-2",
                                              "service": "housing"}
    assert events[milestone_id]["data"] == {"group_id": group, "person_ref": f"mun:s-{uid}-2",
                                            "milestone": "left_group"}
    assert events[ack_id]["data"] == {"alert_id": alert.alert_id, "action": "acknowledged"}
    assert events[triage_ids[0]]["data"] == {"alert_id": alert.alert_id, "action": "assigned",
                                             "assignee": "coordinator"}
    assert events[triage_ids[1]]["data"] == {"alert_id": alert.alert_id, "action": "resolved",
                                             "note": "Met the group's contact; followed up."}


def _relations(page: Any) -> list[list[str]]:
    """The rows of the group audit's table of relations, cell by cell."""
    table = page.locator("table.data").filter(has=page.locator("th", has_text="Other group"))
    return [[c.strip() for c in row.locator("td").all_inner_texts()]
            for row in table.locator("tbody tr").all()]


def test_the_group_audit_and_a_relation_ended_through_the_form(running: Running) -> None:
    from playwright.sync_api import expect

    uid = uuid.uuid4().hex[:6]
    group, rival, ally = f"grp-a{uid}", f"grp-r{uid}", f"grp-l{uid}"
    soon, later = f"pol:p-soon-{uid}", f"pol:p-later-{uid}"
    police = "/agencies/police"
    now = datetime.now(UTC)
    for person, until in ((soon, now + timedelta(days=10)), (later, now + timedelta(days=200))):
        post(running.notifications, "police", example_event(
            "gvi.membership.assessed.v1", source=police, time=stamp(30), subject=group,
            data_overrides={"group_id": group, "person_ref": person,
                            "valid_from": (now - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "valid_until": until.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "evidence": f"Seen with the group, case {uid}."}))
    for other, relation in ((rival, "conflict"), (ally, "alliance")):
        post(running.notifications, "police", example_event(
            "gvi.group.relation.recorded.v1", source=police, time=stamp(20), subject=group,
            data_overrides={"group_id": group, "other_group_id": other, "relation": relation}))
    url = f"{running.dashboard}/group-audit"

    # the analyst: memberships with person references, the expiring one listed, the relations
    analyst = log_in(running, "analyst")
    reload_until(analyst, url, lambda: later in analyst.content() and len(
        [r for r in _relations(analyst) if group in r]) == 2, "the memberships never reached the dashboard")
    people = analyst.locator("section.people")
    expect(people).to_contain_text(soon)
    expect(people).to_contain_text(f"Seen with the group, case {uid}.")
    expiring = people.locator("table.data").first
    expect(expiring).to_contain_text(soon)
    assert later not in expiring.inner_text()
    assert [r[:3] for r in _relations(analyst) if r[0] == group] == [
        [group, "alliance", ally], [group, "conflict", rival]]
    analyst.screenshot(path=str(ARTIFACTS / "group-audit-analyst.png"), full_page=True)
    analyst.context.close()

    # the operator: counts only, no person reference; the same relations
    operator = log_in(running, "operator")
    operator.goto(url)
    counts = operator.locator("table.data").first.locator("tr", has_text=group)
    assert [c.strip() for c in counts.locator("td").all_inner_texts()] == [group, "2", "1"]
    html = operator.content()
    assert soon not in html and later not in html and "section class=\"people\"" not in html
    assert {r[2] for r in _relations(operator) if r[0] == group} == {rival, ally}
    operator.screenshot(path=str(ARTIFACTS / "group-audit-operator.png"), full_page=True)
    operator.context.close()

    # a police analyst ends the conflict through the form: gone from the list once read, the alliance kept
    officer = log_in(running, "police")
    open_form(officer, running, "relation-ended", "Relation between two groups ended")
    type_into(officer, "f-group_id", group)
    type_into(officer, "f-other_group_id", rival)
    ended_id = send(officer, "Police")
    reload_until(officer, url, lambda: {r[2] for r in _relations(officer) if r[0] == group} == {ally},
                 "the relation's end never reached the dashboard")
    officer.screenshot(path=str(ARTIFACTS / "group-audit-relation-ended.png"), full_page=True)
    officer.context.close()
    events = recorded(running.bootstrap, {ended_id: ("gvi.group.relation.ended.v1", (police, "police"))})
    assert events[ended_id]["data"] == {"group_id": group, "other_group_id": rival}
