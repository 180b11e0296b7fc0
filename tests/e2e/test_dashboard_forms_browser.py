"""A coordinator without an agency system records a call-in through the dashboard's form, in a real
headless Chromium with JavaScript off, using the keyboard alone: the notifications intake and the
dashboard run as processes on a real broker. The intake's own message for a bad call-in id stands
beside the field with what was typed kept; once corrected, the receipt names the event, the event is
in the `notifications` topic as the municipality's, and the call-in shows as held on the dashboard.
Then the entry is retracted from its receipt's link: the retraction follows it in the topic. Last,
an alert (published to `alerts` as the processor would) is acknowledged from the alerts page's
button: the triage is in the topic, keyed by the alert, and the page shows the alert acknowledged.
(The harness is the dashboard browser test's: Debian's chromium, `DashboardProcess`.)
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import ExitStack
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from devtools.bench.common import service_process
from services.sanctions.domain.alerts import Alert, AlertKind
from tests.e2e.test_dashboard_browser import ARTIFACTS, CHROMIUM_FLAGS, DashboardProcess, chromium

WAIT_MS = 15_000


def events_in(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every committed event of `topic`, read by a consumer that shares nothing with the services."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             isolation_level="read_committed")
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, "could not read the topic to its end"
            for batch in consumer.poll(timeout_ms=500).values():
                found.extend(json.loads(r.value) for r in batch)
        return found
    finally:
        consumer.close()


def focus(page: Any, element_id: str, presses: int = 40) -> None:
    """Tab forward until the element has the focus (a date-and-time field takes several Tabs)."""
    for _ in range(presses):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} never got the focus")


def test_a_coordinator_records_a_call_in_with_the_keyboard_and_no_script(kafka_bootstrap: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    uid = uuid.uuid4().hex[:6]
    call_in, group = f"ci-f{uid}", f"grp-f{uid}"
    with ExitStack() as stack:
        notifications = stack.enter_context(service_process("services.notifications", kafka_bootstrap))
        dashboard = DashboardProcess(kafka_bootstrap)
        dashboard.env.update(GVI_NOTIFICATIONS_URL=notifications,
                             GVI_DATA_ENTRY_KEYS_FILE="deploy/config/data-entry-keys.dev.toml")
        stack.callback(dashboard.stop)
        dashboard.start()

        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True,
                                             args=CHROMIUM_FLAGS)
        stack.callback(browser.close)
        context = browser.new_context(java_script_enabled=False, locale="en-GB",
                                      viewport={"width": 1200, "height": 1000})
        page = context.new_page()

        page.goto(f"{dashboard.url}/enter/call-in")
        expect(page).to_have_url(f"{dashboard.url}/login?next=%2Fenter%2Fcall-in")
        focus(page, "username")
        page.keyboard.type("coordinator")
        page.keyboard.press("Tab")
        page.keyboard.type("dev-coordinator")
        page.keyboard.press("Enter")
        expect(page).to_have_url(f"{dashboard.url}/enter/call-in")
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
        event_id = page.locator("#receipt-id").inner_text().strip()
        uuid.UUID(event_id)
        retract_link = page.locator("#retract-entry").get_attribute("href")
        assert retract_link == f"/enter/retraction?retracted_event_id={event_id}"
        page.screenshot(path=str(ARTIFACTS / "form-recorded.png"), full_page=True)

        [event] = [e for e in events_in(kafka_bootstrap, "notifications") if e["id"] == event_id]
        assert (event["type"], event["source"], event["agency"]) == (
            "gvi.callin.held.v1", "/agencies/municipality", "municipality")
        assert event["data"] == {
            "call_in_id": call_in,
            "attended": [{"group_id": group, "person_ref": f"mun:s-{uid}-1"},
                         {"group_id": group, "person_ref": f"mun:s-{uid}-2"}],
            "no_shows": [{"group_id": group, "person_ref": f"mun:s-{uid}-3"}]}

        deadline = time.monotonic() + WAIT_MS / 1000
        while True:  # the held call-in on the dashboard's call-ins page (no script: reload to see it)
            page.goto(f"{dashboard.url}/call-ins")
            if page.locator(f'a[href="/call-ins/{call_in}/brief"]').count():
                break
            assert time.monotonic() < deadline, "the call-in never reached the dashboard"
            time.sleep(0.3)

        # retracted from the receipt's link, the event id filled in
        page.goto(f"{dashboard.url}{retract_link}")
        expect(page.locator("h1")).to_have_text("Retract an entry")
        expect(page.locator("#f-retracted_event_id")).to_have_value(event_id)
        focus(page, "f-reason")
        page.keyboard.type("Entered in error: a test.")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("Recorded")
        retraction_id = page.locator("#receipt-id").inner_text().strip()
        [retraction] = [e for e in events_in(kafka_bootstrap, "notifications") if e["id"] == retraction_id]
        assert (retraction["type"], retraction["data"]) == (
            "gvi.event.retracted.v1", {"retracted_event_id": event_id, "reason": "Entered in error: a test."})

        # an alert acknowledged from the alerts page, with the keyboard
        alert = Alert.of(AlertKind.NO_SHOW_ON_PROBATION, group, call_in)
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        producer.send("alerts", key=alert.alert_id.encode(), value=alert.to_json()).get(timeout=20)
        producer.close()
        button = f"ack-{alert.alert_id}"
        deadline = time.monotonic() + WAIT_MS / 1000
        while True:
            page.goto(f"{dashboard.url}/alerts")
            if page.locator(f"#{button}").count():
                break
            assert time.monotonic() < deadline, "the alert never reached the dashboard"
            time.sleep(0.3)
        focus(page, button, presses=200)
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("Recorded")
        triage_id = page.locator("#receipt-id").inner_text().strip()
        [triage] = [e for e in events_in(kafka_bootstrap, "notifications") if e["id"] == triage_id]
        assert (triage["type"], triage["data"]) == (
            "gvi.alert.triaged.v1", {"alert_id": alert.alert_id, "action": "acknowledged"})
        page.locator("#back-to-alerts").click()
        deadline = time.monotonic() + WAIT_MS / 1000
        item = page.locator(f'li[data-alert="{alert.alert_id}"] .triage')
        while item.get_attribute("data-triage") != "acknowledged":
            assert time.monotonic() < deadline, "the triage never reached the dashboard"
            time.sleep(0.3)
            page.goto(f"{dashboard.url}/alerts")
        expect(item).to_contain_text("acknowledged by Municipality")
        page.screenshot(path=str(ARTIFACTS / "alert-acknowledged.png"), full_page=True)
        context.close()
