"""The exit programme in a real headless Chromium with JavaScript off (issue 21), on a broker of its
own with the notifications intake and the dashboard as processes.

The municipality offers support to a member, who accepts it and reaches milestones, first as
`gvi.exit.milestone.v1` (free text) and then as `gvi.exit.milestone.v2` (left the group, left the
area), both through the intake side by side; an analyst goes from the overall page to the group's
page and sees the person with every step; an operator reading in Swedish sees the counts and no
person reference. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack

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


@pytest.fixture(scope="module")
def bootstrap(own_kafka_bootstrap: str) -> str:
    return own_kafka_bootstrap


def test_a_defectors_exit_is_followed_on_the_exit_programme_pages(bootstrap: str) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    executable = chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    uid = uuid.uuid4().hex[:6]
    group, person = f"grp-ex{uid}", f"mun:s-ex-{uid}"
    municipality = "/agencies/municipality"
    with ExitStack() as stack:
        notifications = stack.enter_context(service_process("services.notifications", bootstrap))
        dashboard = DashboardProcess(bootstrap)
        stack.callback(dashboard.stop)
        dashboard.start()
        for kind, seconds in (("gvi.support.offered.v1", 100), ("gvi.support.accepted.v1", 90)):
            post(notifications, "municipality", example_event(
                kind, source=municipality, time=stamp(seconds), subject=group,
                data_overrides={"group_id": group, "person_ref": person, "service": "housing"}))
        post(notifications, "municipality", example_event(
            "gvi.exit.milestone.v1", source=municipality, time=stamp(80), subject=group,
            data_overrides={"group_id": group, "person_ref": person, "service": "exit programme intake"}))
        for milestone, seconds in (("left_group", 70), ("left_area", 60)):
            post(notifications, "municipality", example_event(
                "gvi.exit.milestone.v2", source=municipality, time=stamp(seconds), subject=group,
                data_overrides={"group_id": group, "person_ref": person, "milestone": milestone,
                                "service": OMIT}))

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

        analyst = logged_in("analyst", "en-GB")
        analyst.click('a[href="/exit-programme"]')
        expect(analyst).to_have_url(f"{dashboard.url}/exit-programme")
        deadline = time.monotonic() + LIVE_WAIT_MS / 1000
        link = f'#exit-groups a[href="/exit-programme/{group}"]'
        while not (analyst.locator(link).count() and "left the area" in analyst.content()):
            assert time.monotonic() < deadline, "the exit milestones never reached the dashboard"
            time.sleep(0.3)
            analyst.reload()
        analyst.click(link)
        expect(analyst).to_have_url(f"{dashboard.url}/exit-programme/{group}")
        row = analyst.locator(f'#exit-groups tr[data-group="{group}"]')
        expect(row).to_contain_text("1")
        people = analyst.locator("#exit-people")
        expect(people).to_contain_text(person)
        expect(people).to_contain_text("exit programme intake")
        expect(people).to_contain_text("left the group")
        expect(people).to_contain_text("left the area")
        analyst.screenshot(path=str(ARTIFACTS / "exit-programme-analyst.png"), full_page=True)

        operator = logged_in("operator", "sv-SE")
        operator.goto(f"{dashboard.url}/exit-programme/{group}")
        expect(operator.locator("main")).to_contain_text("Avhopparverksamheten")
        expect(operator.locator("main")).to_contain_text("Lämnat gruppen")
        html = operator.content()
        assert person not in html and "exit-people" not in html
        operator.screenshot(path=str(ARTIFACTS / "exit-programme-operator-sv.png"), full_page=True)
