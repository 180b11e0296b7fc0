"""The pages show what the JSON API holds: every group, case, alert and call-in the API lists for a
reader is on the page that lists it, and "Nothing to show." appears only where the API has nothing."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.unit.dashboard.test_dashboard_http import Harness
from tests.unit.domain import builders as b

NOTHING = "Nothing to show."


class _Text(HTMLParser):
    """The text a reader sees (no markup, no attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def test_the_group_page_lists_the_cases_the_api_has_for_the_group(dash: Harness) -> None:
    headers = dash.token("operator")
    state = dash.client.get("/api/groups/norra", headers=headers).json()
    cases = {c["incident_id"] for c in state["cases"]}
    assert cases == {"i1", "i2"}
    assert {c["incident_id"] for c in dash.client.get("/api/cases", headers=headers).json()
            if c["group_id"] == "norra"} == cases
    dash.login("operator")
    page = dash.client.get("/groups/norra")
    assert page.status_code == 200
    rows = page.text.count('data-case="norra|')
    assert rows == len(cases), visible_text(page.text)
    assert all(f'data-case="norra|{incident}"' in page.text for incident in cases)
    assert NOTHING not in page.text


def test_a_group_without_cases_says_so(dash: Harness) -> None:
    dash.pipe.post(b.registered("g9", "vastra", "Västra"))
    dash.login("operator")
    page = dash.client.get("/groups/vastra")
    assert page.status_code == 200 and 'data-case="' not in page.text and NOTHING in page.text


@pytest.mark.parametrize(("page", "api", "marker", "key"), [
    ("/", "/api/groups", 'data-group="{}"', "group_id"),
    ("/cases?status=all", "/api/cases?status=all", 'data-case="{}|', "group_id"),
    ("/cases?status=open", "/api/cases?status=open", 'data-case="{}|', "group_id"),
    ("/alerts?include_withdrawn=true", "/api/alerts?include_withdrawn=true", 'data-alert="{}"', "alert_id"),
    ("/call-ins", "/api/call-ins", 'href="/call-ins/{}/brief"', "call_in_id"),
])
def test_every_list_page_shows_what_the_api_lists(dash: Harness, page: str, api: str, marker: str,
                                                  key: str) -> None:
    dash.pipe.post(b.warning("w9", "vastra", 1), b.incident("r9", "i9", 40, ["vastra"]))
    listed = dash.client.get(api, headers=dash.token("operator")).json()
    assert listed, api
    dash.login("operator")
    html = dash.client.get(page).text
    assert NOTHING not in html, page
    assert all(marker.format(item[key]) in html for item in listed), page


def test_the_alerts_page_says_how_many_it_leaves_out(dash: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.dashboard.web.ALERTS_SHOWN", 1)
    total = len(dash.client.get("/api/alerts", headers=dash.token("operator")).json())
    assert total > 1
    dash.login("operator")
    html = dash.client.get("/alerts").text
    assert html.count('data-alert="') == 1
    assert f"The newest 1 of {total} are shown" in visible_text(html)
    monkeypatch.setattr("services.dashboard.web.ALERTS_SHOWN", total)
    assert 'id="alerts-shown"' not in dash.client.get("/alerts").text
