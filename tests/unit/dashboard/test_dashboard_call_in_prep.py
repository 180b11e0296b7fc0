"""Call-in preparation and attendance (issue 21): the invited groups with member and probation counts
for every role; who is invited, on probation and stayed away only for the roles that see people,
logged first; a no-show on probation shown with the alert the processor raised for it."""

from __future__ import annotations

from services.contracts import CloudEvent
from services.contracts.alerts import AlertKind
from services.dashboard.readmodel.call_in import call_in_prep
from tests.unit.dashboard.pipeline import Pipeline
from tests.unit.dashboard.test_dashboard_brief import PEOPLE, scenario_events
from tests.unit.dashboard.test_dashboard_http import Harness
from tests.unit.domain import builders as b


def probation_action(id: str, person: str, day: float) -> CloudEvent:
    return b.sanction(id, day, person=person, kind="probation_action", source=b.PROBATION)


# PEOPLE[3] stayed away from ci-1 (held on day 20) as a member of sodra; PEOPLE[1] is a member of norra
PROBATION = (probation_action("pa1", PEOPLE[3], 2), probation_action("pa2", PEOPLE[1], 15))


def scenario() -> Pipeline:
    pipe = Pipeline()
    pipe.post(*scenario_events(), *PROBATION)
    return pipe


def test_a_held_call_in_shows_attendance_and_the_no_show_on_probation_it_raised() -> None:
    pipe = scenario()
    prep = call_in_prep(pipe.model.sources, "ci-1", people=True, group_name={"norra": "Norra gänget"}.get)
    assert prep is not None and prep.held_time == b.at(20) and prep.as_of == b.at(20)
    norra, sodra = prep.groups
    assert (norra.name, norra.members, norra.members_on_probation, norra.attended, norra.no_shows) == (
        "Norra gänget", 1, 1, 1, 0)
    assert norra.alert_id is None
    assert (sodra.members, sodra.attended, sodra.no_shows, sodra.no_shows_on_probation) == (0, 0, 1, 1)
    [alert] = [a for a in pipe.model.alerts() if a.kind is AlertKind.NO_SHOW_ON_PROBATION]
    assert (alert.group_id, alert.incident_id, alert.alert_id) == ("sodra", "ci-1", sodra.alert_id)
    assert sodra.alert_raised_at is None   # no `raised_at` given: the feed's alerts are not consulted
    assert prep.people is not None
    rows = [(p.person_ref, p.group_id, p.member, p.on_probation_since, p.attendance) for p in prep.people]
    assert rows == [
        (PEOPLE[0], "norra", False, None, "attended"),
        (PEOPLE[1], "norra", True, b.at(15), "not_listed"),
        (PEOPLE[3], "sodra", False, b.at(2), "no_show")]


def test_a_scheduled_call_in_lists_the_members_invited_and_their_probation_status() -> None:
    prep = call_in_prep(scenario().model.sources, "ci-2", people=True)
    assert prep is not None and prep.held_time is None and prep.as_of == b.at(70)   # scheduled for day 70
    assert [(g.group_id, g.members, g.members_on_probation, g.attended, g.alert_id) for g in prep.groups] == [
        ("norra", 1, 1, None, None), ("sodra", 0, 0, None, None)]
    assert prep.people is not None
    assert [(p.person_ref, p.on_probation_since, p.attendance) for p in prep.people] == [
        (PEOPLE[1], b.at(15), None)]


def test_without_people_no_person_reference_is_in_the_view() -> None:
    prep = call_in_prep(scenario().model.sources, "ci-1", people=False)
    assert prep is not None and prep.people is None
    assert not [p for p in PEOPLE if p in prep.model_dump_json()]
    assert call_in_prep(scenario().model.sources, "no-such", people=True) is None


def test_the_page_says_raised_only_once_the_processor_s_alert_has_arrived(dash: Harness) -> None:
    dash.pipe.ledger.apply(PROBATION[0])           # the processor has yet to publish its alert
    dash.pipe.applier.apply("sanctions", None, PROBATION[0].to_json(), 0)
    dash.login("operator")
    page = dash.client.get("/call-ins/ci-1").text
    assert "alert not yet received from the processor" in page and "Raised to the Probation" not in page
    dash.pipe.post(PROBATION[1])
    [alert] = [a for a in dash.pipe.ledger.alerts.values() if a.kind is AlertKind.NO_SHOW_ON_PROBATION]
    dash.pipe.applier.apply("alerts", alert.alert_id.encode(), alert.to_json(), 1_000)
    assert "Raised to the Probation Service" in dash.client.get("/call-ins/ci-1").text


def test_a_retracted_probation_action_clears_the_status_and_withdraws_the_alert() -> None:
    pipe = scenario()
    pipe.post(b.retraction("x1", "pa1", 30, source=b.PROBATION))
    prep = call_in_prep(pipe.model.sources, "ci-1", people=True)
    assert prep is not None and prep.groups[1].no_shows_on_probation == 0 and prep.groups[1].alert_id is None
    assert not [a for a in pipe.model.alerts() if a.kind is AlertKind.NO_SHOW_ON_PROBATION]


def test_other_sanctions_are_not_kept_by_the_dashboard() -> None:
    pipe = scenario()
    pipe.post(b.sanction("s9", 10, person=PEOPLE[3], kind="sentence_enforcement", source=b.PROBATION))
    assert pipe.model.sources.probation_times(PEOPLE[3]) == [b.at(2)]


def test_the_pages_and_api_show_people_only_to_analysts_logged_and_never_stored(dash: Harness) -> None:
    dash.pipe.post(*PROBATION)
    operator = dash.token("operator")
    group_level = dash.client.get("/api/call-ins/ci-1", headers=operator)
    assert group_level.status_code == 200 and group_level.headers["cache-control"] == "no-store"
    assert group_level.json()["groups"][1]["no_shows_on_probation"] == 1
    assert group_level.json()["people"] is None
    assert dash.client.get("/api/call-ins/ci-1/people", headers=operator).status_code == 403
    dash.login("operator")
    page = dash.client.get("/call-ins/ci-1")
    assert page.status_code == 200 and "Norra gänget" in page.text
    assert "Raised to the Probation Service" in page.text
    assert not [p for p in PEOPLE if p in page.text + group_level.text]
    dash.client.cookies.clear()

    analyst = dash.token("analyst")
    people = dash.client.get("/api/call-ins/ci-1/people", headers=analyst)
    assert people.status_code == 200 and people.headers["cache-control"] == "no-store"
    assert PEOPLE[3] in people.text
    dash.login("analyst")
    page = dash.client.get("/call-ins/ci-1", headers={"accept-language": "sv"})
    assert page.headers["cache-control"] == "no-store"
    assert PEOPLE[3] in page.text and "uteblev" in page.text and "Larm till Frivården" in page.text
    logged = [(e.user, e.resource.value, e.resource_id, e.person_refs_shown, e.via)
              for e in dash.access.entries]
    assert logged == [
        ("operator", "call_in", "ci-1", False, "api"), ("operator", "call_in", "ci-1", False, "web"),
        ("analyst", "call_in_people", "ci-1", True, "api"),
        ("analyst", "call_in_people", "ci-1", True, "web")]
    assert dash.client.get("/api/call-ins/nope/people", headers=analyst).status_code == 404
    dash.access.fail = True
    for path in ("/api/call-ins/ci-1", "/api/call-ins/ci-1/people"):
        refused = dash.client.get(path, headers=analyst)
        assert refused.status_code == 503 and PEOPLE[3] not in refused.text, path


def test_the_alerts_page_links_a_no_show_alert_to_its_call_in(dash: Harness) -> None:
    dash.pipe.post(*PROBATION)
    dash.login("operator")
    page = dash.client.get("/alerts")
    assert 'href="/call-ins/ci-1"' in page.text and "No-show on probation" in page.text
    assert PEOPLE[3] not in page.text
