"""The exit programme (issue 21): the read model (offers, uptake, milestones, outcomes per group and
in total; person rows only when asked for) and the pages and API per role: every read access-logged
before it is answered, never cached; an analyst sees a row per person, an operator or auditor counts
only (403 on the person-level API); English and Swedish."""

from __future__ import annotations

from typing import Any

from services.dashboard.readmodel.exit_programme import exit_programme
from services.followthrough import Fact
from tests.examples import OMIT
from tests.unit.dashboard.test_dashboard_brief import PEOPLE, support
from tests.unit.dashboard.test_dashboard_http import Harness
from tests.unit.dashboard.test_dashboard_pages import visible_text
from tests.unit.domain import builders as b

MUNICIPALITY = "/agencies/municipality"


def milestone_v1(id: str, group: str, day: float, person: str, text: str) -> Any:
    return b.event("gvi.exit.milestone.v1", id, day,
                   {"group_id": group, "person_ref": person, "service": text}, source=MUNICIPALITY)


def milestone_v2(id: str, group: str, day: float, person: str, milestone: str) -> Any:
    return b.event("gvi.exit.milestone.v2", id, day,
                   {"group_id": group, "person_ref": person, "milestone": milestone, "service": OMIT},
                   source=MUNICIPALITY)


def _exit_events() -> list[Any]:
    return [support("so1", "norra", 10, accepted=False, person=PEOPLE[1]),
            support("so2", "norra", 11, accepted=False, person=None),
            support("sa1", "norra", 12, accepted=True, person=PEOPLE[1]),
            support("so3", "sodra", 13, accepted=False, person=PEOPLE[3]),
            milestone_v1("ex1", "norra", 20, PEOPLE[1], "exit programme intake"),
            milestone_v1("ex2", "norra", 30, PEOPLE[1], "relocation")]


def _facts(events: list[Any]) -> list[Fact]:
    return [Fact.from_event(e) for e in events]


def test_the_read_model_counts_offers_uptake_and_milestones_per_group_and_in_total() -> None:
    view = exit_programme(_facts(_exit_events()), people=False, group_name={"norra": "Norra"}.get)
    norra, sodra = view.groups
    assert (norra.group_id, norra.name, norra.offers, norra.people_offered, norra.accepted,
            norra.people_accepted, norra.milestones, norra.people_in_programme) == (
        "norra", "Norra", 2, 1, 1, 1, 2, 1)
    assert (sodra.offers, sodra.people_offered, sodra.accepted, sodra.milestones) == (1, 1, 0, 0)
    assert (view.totals.offers, view.totals.accepted, view.totals.milestones, view.totals.people_offered) == (
        3, 1, 2, 2)
    assert view.people is None
    assert norra.left_group == norra.left_area == 0          # a v1 milestone's free text is never an outcome


def test_the_read_model_gives_person_rows_only_when_asked_and_limits_to_one_group() -> None:
    view = exit_programme(_facts(_exit_events()), people=True, group_id="norra")
    assert [g.group_id for g in view.groups] == ["norra"] and view.group_id == "norra"
    assert view.people is not None
    (row,) = view.people
    assert (row.person_ref, row.offered, row.accepted) == (PEOPLE[1], ("housing",), ("housing",))
    assert [(s.milestone, s.text, s.event_type) for s in row.steps] == [
        (None, "exit programme intake", "gvi.exit.milestone.v1"),
        (None, "relocation", "gvi.exit.milestone.v1")]


def _logged(dash: Harness) -> list[tuple[str, str, str, bool, str]]:
    return [(e.user, e.resource.value, e.resource_id, e.person_refs_shown, e.via)
            for e in dash.access.entries]


def test_a_retracted_milestone_does_not_count(dash: Harness) -> None:
    dash.pipe.post(*_exit_events(), b.retraction("r1", "ex2", 31, source=MUNICIPALITY))
    body = dash.client.get("/api/exit-programme?group=norra", headers=dash.token("operator")).json()
    assert body["groups"][0]["milestones"] == 1


def test_an_analyst_sees_people_and_every_read_is_logged_first(dash: Harness) -> None:
    dash.pipe.post(*_exit_events())
    headers = dash.token("analyst")
    answer = dash.client.get("/api/exit-programme/people", headers=headers)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    # the harness's scenario offered and gave housing to PEOPLE[2] of norra already
    assert [p["person_ref"] for p in answer.json()["people"]] == [PEOPLE[2], PEOPLE[1], PEOPLE[3]]
    dash.login("analyst")
    page = dash.client.get("/exit-programme/norra")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    text = visible_text(page.text)
    assert PEOPLE[1] in text and PEOPLE[3] not in text and "Exit programme" in text
    assert "relocation" in text and "Norra gänget" in text
    overall = dash.client.get("/exit-programme")
    assert overall.status_code == 200 and PEOPLE[3] in overall.text
    logged = _logged(dash)
    assert logged == [("analyst", "exit_programme_people", "all", True, "api"),
                      ("analyst", "exit_programme_people", "norra", True, "web"),
                      ("analyst", "exit_programme_people", "all", True, "web")]
    assert not [p for p in PEOPLE if p in "".join(e.to_json().decode() for e in dash.access.entries)]


def test_an_operator_and_an_auditor_see_counts_only(dash: Harness) -> None:
    dash.pipe.post(*_exit_events())
    for role in ("operator", "auditor"):
        headers = dash.token(role)
        assert dash.client.get("/api/exit-programme/people", headers=headers).status_code == 403
        answer = dash.client.get("/api/exit-programme", headers=headers)
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert body["people"] is None and body["totals"]["offers"] == 3 + 2
        dash.login(role)
        page = dash.client.get("/exit-programme/norra")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        for text in (answer.text, page.text):
            assert not [p for p in PEOPLE if p in text]
        assert "shown to analysts only" in page.text
        dash.client.cookies.clear()
    logged = _logged(dash)
    assert logged == [(r, "exit_programme", g, False, via) for r in ("operator", "auditor")
                      for g, via in (("all", "api"), ("norra", "web"))]


def test_an_unknown_group_is_not_found_and_a_read_that_cannot_be_logged_is_refused(dash: Harness) -> None:
    dash.pipe.post(*_exit_events())
    dash.login("analyst")
    assert dash.client.get("/exit-programme/no-such-group").status_code == 404
    dash.access.fail = True
    page = dash.client.get("/exit-programme")
    assert page.status_code == 503 and PEOPLE[1] not in page.text
    answer = dash.client.get("/api/exit-programme/people", headers=dash.token("analyst"))
    assert answer.status_code == 503 and PEOPLE[1] not in answer.text


def test_without_login_the_page_sends_to_the_login_page_and_the_api_refuses(dash: Harness) -> None:
    page = dash.client.get("/exit-programme", follow_redirects=False)
    assert page.status_code in (302, 303) and page.headers["location"].startswith("/login")
    for path in ("/api/exit-programme", "/api/exit-programme/people"):
        assert dash.client.get(path).status_code == 401, path
    assert dash.access.entries == []


def test_the_exit_programme_in_swedish(dash: Harness) -> None:
    dash.pipe.post(*_exit_events())
    dash.login("analyst")
    dash.client.cookies.set("gvi_lang", "sv")
    text = visible_text(dash.client.get("/exit-programme").text)
    for swedish in ("Avhopparverksamheten", "Erbjudet stöd", "Accepterat (uppslutning)", "Lämnat gruppen",
                    "Flyttat från området", "boende", "inskrivning i avhopparverksamheten",
                    "flytt till annan ort"):
        assert swedish in text, swedish
    assert "relocation" not in text and "housing" not in text




# --- gvi.exit.milestone.v2: the milestone a field of its own, outcomes counted ------------------------

def _v2_events() -> list[Any]:
    return [*_exit_events(), milestone_v2("ev1", "norra", 40, PEOPLE[1], "left_group"),
            milestone_v2("ev2", "norra", 41, PEOPLE[1], "left_group"),          # counted once per person
            milestone_v2("ev3", "norra", 60, PEOPLE[1], "left_area"),
            milestone_v2("ev4", "sodra", 50, PEOPLE[3], "intake")]


def test_v1_and_v2_milestones_count_side_by_side_and_only_v2_outcomes_count_as_outcomes() -> None:
    view = exit_programme(_facts(_v2_events()), people=True)
    norra, sodra = view.groups
    assert (norra.milestones, norra.people_in_programme, norra.left_group, norra.left_area) == (5, 1, 1, 1)
    assert (sodra.milestones, sodra.people_in_programme, sodra.left_group) == (1, 1, 0)
    assert (view.totals.left_group, view.totals.left_area, view.totals.milestones) == (1, 1, 6)
    assert view.people is not None
    row = next(p for p in view.people if p.person_ref == PEOPLE[1])
    assert [(s.milestone, s.event_type) for s in row.steps][-3:] == [
        ("left_group", "gvi.exit.milestone.v2"), ("left_group", "gvi.exit.milestone.v2"),
        ("left_area", "gvi.exit.milestone.v2")]
    assert (row.left_group, row.left_area) == (b.at(40), b.at(60))


def test_the_pages_name_v2_milestones_by_their_terms_in_both_languages(dash: Harness) -> None:
    dash.pipe.post(*_v2_events())
    dash.login("analyst")
    english = visible_text(dash.client.get("/exit-programme/norra").text)
    assert "left the group" in english and "left the area" in english and "left_group" not in english
    dash.client.cookies.set("gvi_lang", "sv")
    swedish = visible_text(dash.client.get("/exit-programme/norra").text)
    assert "lämnat gruppen" in swedish and "flyttat från området" in swedish and "left_area" not in swedish
    body = dash.client.get("/api/exit-programme", headers=dash.token("operator")).json()
    assert (body["totals"]["left_group"], body["totals"]["left_area"]) == (1, 1)
