"""Text from events is escaped wherever the dashboard shows it (issue 22): the contract refuses
control and bidirectional characters in names, but not `<`, `&` or quotes, so the pages must escape
them (Jinja's autoescape does; this checks that every page showing a name and a place keeps it on)."""

from __future__ import annotations

import pytest

from tests.unit.dashboard.test_dashboard_http import Harness
from tests.unit.domain import builders as b

pytestmark = pytest.mark.unit

NAME = '<script>alert("name")</script>&'
PLACE = "<img src=x onerror=alert(1)>"


def test_names_and_places_from_events_are_escaped_on_every_page(dash: Harness) -> None:
    dash.pipe.post(
        b.registered("esc-1", "escaped", NAME, day=1),
        b.event("gvi.callin.scheduled.v1", "esc-2", 2, {"call_in_id": "ci-esc", "location": PLACE,
                                                        "invited_group_ids": ["escaped"]}))
    dash.login("analyst")
    for path in ("/", "/?fragment=1", "/groups/escaped", "/call-ins", "/call-ins/ci-esc/brief"):
        page = dash.client.get(path)
        assert page.status_code == 200, (path, page.status_code)
        assert "<script>alert" not in page.text and "<img src=x" not in page.text, path
    group = dash.client.get("/groups/escaped").text
    assert "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;&amp;" in group
    assert "&lt;img src=x onerror=alert(1)&gt;" in dash.client.get("/call-ins").text
