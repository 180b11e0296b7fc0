"""Call-in preparation in a real headless Chromium with JavaScript off (issue 21), on a broker of its own
with the notifications and sanctions intakes, the stream processor and the dashboard as processes.

Probation records a probation action against a member, the call-in is scheduled and held with that
member among the no-shows; an analyst goes from the call-in list to the call-in's page and sees who
stayed away and that it was raised to the Probation Service; an operator reading in Swedish sees the
same counts and no person reference; the alerts page names the alert and links the call-in.
Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest

from devtools.bench.common import service_process
from tests.e2e.test_dashboard_browser import (
    ARTIFACTS,
    CHROMIUM_FLAGS,
    LIVE_WAIT_MS,
    DashboardProcess,
    chromium,
    post,
    stamp,
)
from tests.examples import OMIT, example_event
from tests.processor_support import running_processor


@pytest.fixture(scope="module")
def bootstrap(own_kafka_bootstrap: str) -> str:
    return own_kafka_bootstrap


def _day(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_no_show_on_probation_reaches_the_call_in_page_and_the_alerts(
        bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    executable = chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    uid = uuid.uuid4().hex[:6]
    group, call_in = f"grp-ci{uid}", f"ci-p{uid}"
    away, came = f"kvv:k-away-{uid}", f"kvv:k-came-{uid}"
    with ExitStack() as stack:
        notifications = stack.enter_context(service_process("services.notifications", bootstrap))
        sanctions = stack.enter_context(service_process("services.sanctions", bootstrap))
        stack.enter_context(running_processor(bootstrap, tmp_path_factory.mktemp("call-in-processor")))
        dashboard = DashboardProcess(bootstrap)
        stack.callback(dashboard.stop)
        dashboard.start()
        post(notifications, "police", example_event(
            "gvi.group.registered.v1", source="/agencies/police", time=stamp(120), subject=group,
            data_overrides={"group_id": group, "name": f"Norra gänget {uid}", "area": "Rosengård"}))
        for person in (away, came):
            post(notifications, "police", example_event(
                "gvi.membership.assessed.v1", source="/agencies/police", time=stamp(110), subject=group,
                data_overrides={"person_ref": person, "group_id": group,
                                "valid_from": _day(timedelta(days=-30)),
                                "valid_until": _day(timedelta(days=300))}))
        post(sanctions, "probation", example_event(
            "gvi.sanction.recorded.v1", source="/agencies/probation", time=stamp(100), subject=OMIT,
            data_overrides={"kind": "probation_action", "person_ref": away, "group_id": OMIT,
                            "incident_id": OMIT}))
        post(notifications, "probation", example_event(
            "gvi.callin.scheduled.v1", source="/agencies/probation", time=stamp(90), subject=call_in,
            data_overrides={"call_in_id": call_in, "invited_group_ids": [group],
                            "scheduled_for": _day(timedelta(minutes=-10))}))
        post(notifications, "probation", example_event(
            "gvi.callin.held.v1", source="/agencies/probation", time=stamp(5), subject=call_in,
            data_overrides={"call_in_id": call_in, "attended": [{"person_ref": came, "group_id": group}],
                            "no_shows": [{"person_ref": away, "group_id": group}]}))

        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True,
                                             args=CHROMIUM_FLAGS)
        stack.callback(browser.close)

        def logged_in(user: str, locale: str) -> Page:
            context = browser.new_context(java_script_enabled=False, locale=locale,
                                          extra_http_headers={"accept-language": locale})
            page = context.new_page()
            page.goto(f"{dashboard.url}/login")
            page.fill("#username", user)
            page.fill("#password", f"dev-{user}")
            page.click("button[type=submit]")
            expect(page).to_have_url(f"{dashboard.url}/")
            return page

        def until_raised(page: Page, text: str) -> None:
            """Reload (no script: nothing changes by itself) until the processor's alert is in."""
            deadline = time.monotonic() + LIVE_WAIT_MS / 1000 * 2
            while True:
                answer = page.reload()
                if answer is not None and answer.status == 200 and text in page.content():
                    return
                assert time.monotonic() < deadline, f"{text!r} never appeared on {page.url}"
                time.sleep(0.5)

        analyst = logged_in("analyst", "en-GB")
        analyst.goto(f"{dashboard.url}/call-ins")
        deadline = time.monotonic() + LIVE_WAIT_MS / 1000
        while not analyst.locator(f'a[href="/call-ins/{call_in}"]').count():
            assert time.monotonic() < deadline, "the call-in never reached the dashboard"
            time.sleep(0.3)
            analyst.reload()
        analyst.click(f'a[href="/call-ins/{call_in}"]')
        expect(analyst).to_have_url(f"{dashboard.url}/call-ins/{call_in}")
        until_raised(analyst, "Raised to the Probation Service")
        row = analyst.locator(f'#call-in-groups tr[data-group="{group}"]')
        expect(row).to_contain_text(f"Norra gänget {uid}")
        people = analyst.locator("#call-in-people")
        expect(people.locator("tr.no-show-on-probation")).to_contain_text(away)
        expect(people.locator("tr.no-show-on-probation")).to_contain_text("did not come")
        expect(people).to_contain_text(came)
        analyst.screenshot(path=str(ARTIFACTS / "call-in-analyst.png"), full_page=True)

        operator = logged_in("operator", "sv-SE")
        operator.goto(f"{dashboard.url}/call-ins/{call_in}")
        expect(operator.locator("main")).to_contain_text("Larm till Frivården")
        expect(operator.locator("main")).to_contain_text("Uteblivna under frivård")
        html = operator.content()
        assert away not in html and came not in html and "call-in-people" not in html
        operator.goto(f"{dashboard.url}/alerts")
        alert = operator.locator("li.kind-no_show_on_probation")
        expect(alert).to_contain_text("Uteblev från call-in under frivård")
        alert.locator(f'a[href="/call-ins/{call_in}"]').click()
        expect(operator).to_have_url(f"{dashboard.url}/call-ins/{call_in}")
        operator.screenshot(path=str(ARTIFACTS / "call-in-operator-sv.png"), full_page=True)
