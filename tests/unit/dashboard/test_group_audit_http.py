"""The group audit over HTTP, per role: an analyst sees memberships with person references, evidence
and source grade (each read access-logged first, never cached); an operator or auditor sees member
counts, relations and unmatched sanctions only (403 on the person-level API); without login the page
sends to the login page and the API answers 401. In Swedish, every value is a Swedish term."""

from __future__ import annotations

import re

from tests.unit.dashboard.test_dashboard_brief import PEOPLE
from tests.unit.dashboard.test_dashboard_http import Harness
from tests.unit.dashboard.test_dashboard_pages import visible_text
from tests.unit.dashboard.test_dashboard_terms import RAW
from tests.unit.domain import builders as b

EVIDENCE = "Seen with group members at three documented occasions"
LONE = "pol:p-unmatched"


def _audit_events(dash: Harness) -> None:
    """On top of the HTTP harness's scenario (now: day 70; norra has membership m1 of PEOPLE[1],
    days 0-300): a membership of PEOPLE[3] expiring on day 80, relations, an unmatched sanction."""
    dash.pipe.post(b.membership("m9", PEOPLE[3], "norra", 40, 80),
                   b.registered("g2", "sodra", "Södra"),
                   b.relation("rel1", "norra", "sodra", 42, "conflict"),
                   b.sanction("s9", 66, person=LONE, kind="probation_action", source=b.PROBATION))


def test_an_analyst_sees_memberships_with_evidence_and_each_read_is_logged(dash: Harness) -> None:
    _audit_events(dash)
    headers = dash.token("analyst")
    answer = dash.client.get("/api/group-audit/memberships", headers=headers)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert {(m["person_ref"], m["group_id"], m["source_grade"]) for m in body["memberships"]} == {
        (PEOPLE[1], "norra", "B"), (PEOPLE[3], "norra", "B")}
    assert [m["event_id"] for m in body["expiring"]] == ["m9"]
    assert EVIDENCE in body["memberships"][0]["evidence"]
    assert body["relations"] == [{"group_id": "norra", "other_group_id": "sodra", "relation": "conflict",
                                  "since": b.at(42).isoformat(), "event_id": "rel1"}]
    assert [(u["sanction_id"], u["kind"], u["agency"]) for u in body["unmatched_sanctions"]] == [
        ("s9", "probation_action", "probation")]
    assert LONE not in answer.text

    dash.login("analyst")
    page = dash.client.get("/group-audit")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = visible_text(page.text)
    assert PEOPLE[1] in text and PEOPLE[3] in text and EVIDENCE in text and "B: usually reliable" in text
    assert "conflict" in text and "probation action" in text and LONE not in text
    expiring = page.text.split('class="people"')[1].split("</table>")[0]
    assert PEOPLE[3] in expiring and PEOPLE[1] not in expiring
    filtered = dash.client.get("/group-audit?group=sodra")
    assert filtered.status_code == 200 and PEOPLE[1] not in filtered.text

    logged = [(e.user, e.resource.value, e.resource_id, e.person_refs_shown, e.via)
              for e in dash.access.entries]
    assert logged == [("analyst", "group_audit", "all", True, "api"),
                      ("analyst", "group_audit", "all", True, "web"),
                      ("analyst", "group_audit", "sodra", True, "web")]
    assert not [p for p in (*PEOPLE, LONE) if p in "".join(e.to_json().decode() for e in dash.access.entries)]


def test_an_operator_and_an_auditor_see_group_level_aggregates_only(dash: Harness) -> None:
    _audit_events(dash)
    for role in ("operator", "auditor"):
        headers = dash.token(role)
        assert dash.client.get("/api/group-audit/memberships", headers=headers).status_code == 403
        answer = dash.client.get("/api/group-audit", headers=headers)
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert "memberships" not in body and "expiring" not in body
        assert body["groups"] == [{"group_id": "norra", "name": "Norra gänget", "current_members": 2,
                                   "expiring_within_window": 1}]
        assert [r["relation"] for r in body["relations"]] == ["conflict"]
        assert [u["sanction_id"] for u in body["unmatched_sanctions"]] == ["s9"]
        dash.login(role)
        page = dash.client.get("/group-audit")
        assert page.status_code == 200 and "Norra gänget" in page.text and "probation action" in page.text
        for text in (answer.text, page.text):
            assert not [p for p in (*PEOPLE, LONE) if p in text] and EVIDENCE not in text
        dash.client.cookies.clear()
    assert dash.access.entries == []                     # nothing person-level was read


def test_without_login_the_page_sends_to_the_login_page_and_the_api_refuses(dash: Harness) -> None:
    page = dash.client.get("/group-audit", follow_redirects=False)
    assert page.status_code in (302, 303) and page.headers["location"].startswith("/login")
    for path in ("/api/group-audit", "/api/group-audit/memberships"):
        assert dash.client.get(path).status_code == 401, path
    assert dash.access.entries == []


def test_a_person_level_read_that_cannot_be_logged_is_refused(dash: Harness) -> None:
    _audit_events(dash)
    dash.access.fail = True
    answer = dash.client.get("/api/group-audit/memberships", headers=dash.token("analyst"))
    assert answer.status_code == 503 and PEOPLE[1] not in answer.text
    dash.login("analyst")
    page = dash.client.get("/group-audit")
    assert page.status_code == 503 and PEOPLE[1] not in page.text and EVIDENCE not in page.text


def test_the_group_audit_in_swedish_shows_swedish_terms_and_no_raw_value(dash: Harness) -> None:
    _audit_events(dash)
    dash.login("analyst")
    dash.client.cookies.set("gvi_lang", "sv")
    text = visible_text(dash.client.get("/group-audit").text)
    for swedish in ("Gruppkartläggning", "Bedömningar som upphör inom 30 dagar", "B: oftast tillförlitlig",
                    "konflikt", "frivårdsåtgärd", "Frivården",
                    "inget giltigt medlemskap vid sanktionstillfället",
                    "Källvärdering", "till och med 2024-04-10"):
        assert swedish in text, swedish
    leaked = {raw for raw in RAW if re.search(rf"(?<![\w.-]){re.escape(raw)}(?![\w-])", text)}
    assert not leaked
