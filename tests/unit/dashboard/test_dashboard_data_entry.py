"""The data-entry forms over HTTP: the dashboard (test client, memory access log) posting to a real
notifications intake served by uvicorn on a free port (its publisher the fake one), so that what
crosses between them is the real HTTP request an agency's system would send. Who may use a form,
CSRF, the intake's own messages beside the fields, the intake or its broker down (503, what was
typed kept, nothing written), the receipt, and a form sent twice recorded once."""

from __future__ import annotations

import html
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from devtools.broker import free_port
from services.contracts import Service
from services.contracts.access import Resource
from services.dashboard.app import Adapters, create_app
from services.dashboard.auth import ConfigError, load_users
from services.dashboard.forms import FORMS, entries_intake, refusal_of
from services.dashboard.ports import FixedAuditTrail, MemoryAccessLog
from services.dashboard.posting import FORM_NAMES, load_agency_keys
from services.dashboard.settings import DashboardSettings
from services.intake import api as intake_api
from services.intake.ledger import Receipt, ReceiptLedger
from services.intake.publishing import FakePublisher
from services.intake.settings import IntakeSettings
from services.privacy.sealing import unsealed
from services.privacy.store import MemoryKeyStore
from tests.unit.dashboard.pipeline import Pipeline
from tests.unit.dashboard.test_dashboard_brief import scenario_events

USERS = Path("deploy/config/users.dev.toml")
AGENCIES = Path("deploy/config/agencies.dev.toml")
KEYS = Path("deploy/config/data-entry-keys.dev.toml")
PASSWORDS = {"coordinator": "dev-coordinator", "civil": "dev-civil", "operator": "dev-operator",
             "police": "dev-police"}


@dataclass
class Intake:
    url: str
    publisher: FakePublisher
    ledger: ReceiptLedger
    keys: MemoryKeyStore


@pytest.fixture(scope="module")
def intake() -> Iterator[Intake]:
    settings = IntakeSettings(GVI_ENV="development", GVI_AGENCIES_FILE=AGENCIES)
    publisher = FakePublisher()
    ledger = ReceiptLedger()
    keys = MemoryKeyStore()

    async def ready() -> bool:
        return True

    app = intake_api.create_app(Service.NOTIFICATIONS, settings,
                                adapters=intake_api.Adapters(publisher, ledger, ready, keys=keys))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the intake did not start"
        time.sleep(0.05)
    yield Intake(f"http://127.0.0.1:{port}", publisher, ledger, keys)
    server.should_exit = True
    thread.join(10)


class Desk:
    """A dashboard whose forms post to `intake`, and a browser-like client logged in to it."""

    def __init__(self, client: TestClient, access: MemoryAccessLog) -> None:
        self.client, self.access = client, access

    def login(self, user: str) -> None:
        page = self.client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        answer = self.client.post("/login", follow_redirects=False, data={
            "username": user, "password": PASSWORDS[user], "csrf_token": csrf.group(1), "next": "/"})
        assert answer.status_code == 303, answer.text

    def open(self, form: str) -> dict[str, str]:
        """The form's hidden fields (CSRF token, event id) and its prefilled time."""
        page = self.client.get(f"/enter/{form}")
        assert page.status_code == 200, page.text
        return {name: html.unescape(value) for name, value in
                re.findall(r'name="(csrf_token|event_id|time)"[^>]* value="([^"]*)"', page.text)}

    def send(self, form: str, fields: dict[str, Any], hidden: dict[str, str] | None = None) -> httpx.Response:
        return self.client.post(f"/enter/{form}", data={**(hidden or self.open(form)), **fields},
                                follow_redirects=False)


async def _ready() -> bool:
    return True


def desk_for(url: str, *, keys: Path | None = KEYS) -> Iterator[Desk]:
    access = MemoryAccessLog()
    settings = DashboardSettings(GVI_ENV="development", GVI_USERS_FILE=USERS, GVI_NOTIFICATIONS_URL=url,
                                 GVI_DATA_ENTRY_KEYS_FILE=keys, GVI_DATA_ENTRY_TIMEOUT_SECONDS=5)
    app = create_app(settings, adapters=Adapters(access_log=access, ready=_ready, audit=FixedAuditTrail()))
    Pipeline(applier=app.state.applier).post(*scenario_events())
    with TestClient(app) as client:
        yield Desk(client, access)


@pytest.fixture
def desk(intake: Intake) -> Iterator[Desk]:
    yield from desk_for(intake.url)


def published(intake: Intake, event_id: str, *, opened: bool = True) -> list[dict[str, Any]]:
    """The records of `event_id` the intake published: as the intake's keys open them, or as
    they are in Kafka (sealed)."""
    found = [json.loads(record.value) for record, _ in intake.publisher.log]
    return [unsealed(event, intake.keys.ring.data_key) if opened else event
            for event in found if event["id"] == event_id]


def key_of(intake: Intake, event_id: str) -> str:
    [key] = [record.key for record, _ in intake.publisher.log if json.loads(record.value)["id"] == event_id]
    return key


def field_error(page: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="e-{name}">(.*?)</p>', page, re.S)
    assert found is not None, f"no error beside {name}"
    return html.unescape(found.group(1))


def test_a_coordinator_records_a_support_offer_and_gets_the_receipt(desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    assert 'href="/enter"' in desk.client.get("/").text
    hidden = desk.open("support")
    answer = desk.send("support", {"group_id": "norra", "person_ref": "mun:s-9001", "service": "housing"},
                       hidden)
    assert answer.status_code == 200, answer.text
    event_id = hidden["event_id"]
    assert event_id in answer.text and "notifications" in answer.text
    [event] = published(intake, event_id)
    assert (event["type"], event["source"], event["agency"]) == (
        "gvi.support.offered.v1", "/agencies/municipality", "municipality")
    assert event["data"] == {"group_id": "norra", "person_ref": "mun:s-9001", "service": "housing"}
    [sealed] = published(intake, event_id, opened=False)  # in Kafka: the person's pseudonym only
    assert sealed["data"]["person_ref"] == intake.keys.ring.key_for("mun:s-9001").pseudonym
    assert "mun:s-9001" not in json.dumps(sealed)
    assert event["time"].endswith("Z")  # the Swedish time typed, as UTC
    [entry] = [e for e in desk.access.entries if e.resource is Resource.DATA_ENTRY]
    assert (entry.user, entry.resource_id, entry.person_refs_shown) == ("coordinator", event_id, False)

    again = desk.send("support", {"group_id": "norra", "person_ref": "mun:s-9001", "service": "housing"},
                      hidden)  # sent twice (a reload, a double click): recorded once
    assert again.status_code == 200 and "recorded before" in again.text
    assert len(published(intake, event_id)) == 1


def test_a_call_in_is_recorded_with_its_attendance_lines(desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("call-in")
    answer = desk.send("call-in", {"call_in_id": "ci-2", "attended": "norra mun:s-1\r\n\r\nsodra, mun:s-2",
                                   "no_shows": "norra mun:s-3"}, hidden)
    assert answer.status_code == 200, answer.text
    [event] = published(intake, hidden["event_id"])
    assert event["data"] == {"call_in_id": "ci-2",
                             "attended": [{"group_id": "norra", "person_ref": "mun:s-1"},
                                          {"group_id": "sodra", "person_ref": "mun:s-2"}],
                             "no_shows": [{"group_id": "norra", "person_ref": "mun:s-3"}]}


def test_the_intakes_own_messages_stand_beside_the_fields_and_what_was_typed_is_kept(
        desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("call-in")
    typed = {"call_in_id": "ci 2", "attended": "norra\nnorra mun:s-1 <b>"}
    answer = desk.send("call-in", typed, hidden)
    assert answer.status_code == 422
    direct = httpx.post(f"{intake.url}/v1/events", timeout=5, headers={
        "authorization": "Bearer dev-municipality-key", "content-type": "application/cloudevents+json"},
        json={"specversion": "1.0", "id": hidden["event_id"], "source": "/agencies/municipality",
              "type": "gvi.callin.held.v1", "time": "2026-03-01T14:30:00+01:00",
              "data": {"call_in_id": "ci 2", "attended": [
                  {"group_id": "norra"}, {"group_id": "norra", "person_ref": "mun:s-1 <b>"}]}})
    assert direct.status_code == 422
    said = {e["field"]: e["message"] for e in direct.json()["errors"]}
    assert said["data.call_in_id"] in field_error(answer.text, "call_in_id")
    attended = field_error(answer.text, "attended")
    assert f"line 1 person_ref: {said['data.attended.0.person_ref']}" in attended
    assert f"line 2 person_ref: {said['data.attended.1.person_ref']}" in attended
    assert 'value="ci 2"' in answer.text and "norra mun:s-1 &lt;b&gt;</textarea>" in answer.text
    assert f'value="{hidden["event_id"]}"' in answer.text
    assert not published(intake, hidden["event_id"])


def test_the_intake_refuses_what_the_agencys_role_does_not_allow(desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("warning")
    answer = desk.send("warning", {"group_id": "norra", "channel": "custom_notification",
                                   "promised_levers": ["arrest", "prosecution"]}, hidden)
    assert answer.status_code == 403
    assert "custom_notification" in html.unescape(answer.text)  # the intake's message names the channel
    assert 'value="prosecution" checked' in answer.text
    assert 'value="custom_notification" selected' in answer.text
    assert not published(intake, hidden["event_id"])
    ok = desk.send("warning", {"group_id": "norra", "channel": "home_visit", "promised_levers": "arrest"},
                   hidden)
    assert ok.status_code == 200
    [event] = published(intake, hidden["event_id"])
    assert event["data"] == {"group_id": "norra", "channel": "home_visit", "promised_levers": ["arrest"]}


def test_a_post_without_the_sessions_csrf_token_is_refused(desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("support")
    for token in (None, "forged", hidden["csrf_token"][:-2] + "xx"):
        fields = {**hidden, "group_id": "norra", "service": "work"}
        if token is None:
            del fields["csrf_token"]
        else:
            fields["csrf_token"] = token
        answer = desk.send("support", {}, fields)
        assert answer.status_code == 403, token
    assert not published(intake, hidden["event_id"]) and not desk.access.entries


def test_only_users_who_enter_for_an_agency_reach_its_forms(desk: Desk, intake: Intake) -> None:
    anonymous = desk.client.post("/enter/support", data={"group_id": "norra"}, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login?next=")
    desk.login("operator")
    assert 'href="/enter"' not in desk.client.get("/").text
    for path in ("/enter", "/enter/support", "/enter/call-in"):
        assert desk.client.get(path).status_code == 403
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', desk.client.get("/").text)  # the logout form's
    assert csrf is not None
    refused = desk.client.post("/enter/support", follow_redirects=False, data={
        "csrf_token": csrf.group(1),
        "event_id": "7d2ad9a4-0c61-4f6c-9d4a-6a1f0f1c0b11", "time": "2026-03-01T14:30",
        "group_id": "norra", "service": "work"})
    assert refused.status_code == 403
    desk.client.cookies.clear()
    desk.login("civil")  # civil society is offered the support form only
    assert desk.client.get("/enter/call-in").status_code == 403
    index = desk.client.get("/enter")
    assert index.status_code == 200 and "/enter/support" in index.text and "/enter/call-in" not in index.text
    hidden = desk.open("support")
    assert desk.send("support", {"group_id": "norra", "service": "mentoring"}, hidden).status_code == 200
    [event] = published(intake, hidden["event_id"])
    assert event["source"] == "/agencies/civil-society"


def test_the_dashboards_own_check_is_the_time_in_the_readers_language(desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("support")
    answer = desk.send("support", {"time": "", "group_id": "norra", "service": "work"}, hidden)
    assert answer.status_code == 422 and "Enter the date and time it happened." in answer.text
    desk.client.cookies.set("gvi_lang", "sv")
    answer = desk.send("support", {"time": "igår", "group_id": "norra", "service": "work"}, hidden)
    assert answer.status_code == 422 and "Ange datum och tid som" in field_error(answer.text, "time")
    assert "Grupp" in answer.text and "Erbjudet stöd" in answer.text
    assert not published(intake, hidden["event_id"])


def test_the_intake_down_answers_503_keeps_the_form_and_writes_nothing(intake: Intake) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    for desk in desk_for(nobody):
        desk.login("coordinator")
        hidden = desk.open("support")
        answer = desk.send("support", {"group_id": "norra", "service": "relocation"}, hidden)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert "cannot take the entry just now" in answer.text
        assert 'value="relocation"' in answer.text and f'value="{hidden["event_id"]}"' in answer.text


def test_the_intakes_broker_down_answers_503_with_the_intakes_message(desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("support")
    intake.publisher.reachable = False
    try:
        answer = desk.send("support", {"group_id": "norra", "service": "work"}, hidden)
    finally:
        intake.publisher.reachable = True
    assert answer.status_code == 503
    assert "unreachable; nothing was published" in answer.text and 'value="work"' in answer.text
    retried = desk.send("support", {"group_id": "norra", "service": "work"}, hidden)
    assert retried.status_code == 200 and len(published(intake, hidden["event_id"])) == 1


def test_without_the_keys_file_the_forms_answer_503(intake: Intake) -> None:
    for desk in desk_for(intake.url, keys=None):
        desk.login("coordinator")
        answer = desk.client.get("/enter/support")
        assert answer.status_code == 503 and "GVI_DATA_ENTRY_KEYS_FILE" in answer.text


def test_the_keys_file_is_checked_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="development keys"):
        load_agency_keys(KEYS, development=False)
    short = tmp_path / "keys.toml"
    short.write_text('[[agency]]\nname = "municipality"\nsource = "/agencies/municipality"\nkey = "guess"\n')
    with pytest.raises(ConfigError, match="shorter than 32"):
        load_agency_keys(short, development=False)
    loaded = load_agency_keys(short, development=True)
    assert loaded["municipality"].forms == FORM_NAMES == tuple(FORMS)
    civil_only = tmp_path / "civil.toml"
    civil_only.write_text('[[agency]]\nname = "civil-society"\nsource = "/agencies/civil-society"\n'
                          'key = "dev-civil-key"\n')
    settings = DashboardSettings(GVI_ENV="development", GVI_USERS_FILE=USERS,
                                 GVI_DATA_ENTRY_KEYS_FILE=civil_only)
    with pytest.raises(ConfigError, match="municipality"):
        create_app(settings, adapters=Adapters(access_log=MemoryAccessLog(), ready=_ready,
                                               audit=FixedAuditTrail()))
    users = load_users(USERS)
    assert {u: getattr(users.current(u, role), "enters_for", "?")
            for u, role in (("coordinator", "operator"), ("civil", "operator"), ("operator", "operator"),
                            ("police", "analyst"))} == {
        "coordinator": "municipality", "civil": "civil-society", "operator": None, "police": "police"}


def test_a_refusal_goes_beside_the_field_it_names() -> None:
    refusal = refusal_of(FORMS["call-in"], {
        "error": "invalid_event", "message": "the event breaks the contract",
        "errors": [{"field": "data.no_shows.2.group_id", "message": "m1"}, {"field": "time", "message": "m2"},
                   {"field": "id", "message": "m3"}]})
    assert refusal.fields == {"no_shows": ["line 3 group_id: m1"], "time": ["m2"]}
    assert refusal.general == ["the event breaks the contract", "id: m3"]


def test_an_access_log_that_cannot_be_written_posts_nothing(desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("support")
    desk.access.fail = True
    answer = desk.send("support", {"group_id": "norra", "service": "education"}, hidden)
    desk.access.fail = False
    assert answer.status_code == 503 and "could not be written to the access log" in answer.text
    assert 'value="education"' in answer.text and not published(intake, hidden["event_id"])


def test_an_oversized_form_is_refused_before_it_is_read(desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("call-in")
    answer = desk.send("call-in", {"call_in_id": "ci-2", "attended": "norra mun:s-1\n" * 20_000}, hidden)
    assert answer.status_code == 413 and not published(intake, hidden["event_id"])


# --- the forms of issue 21's second round: call-in scheduled, support accepted, exit milestone, relation
# ended (the police's), and retracting one's own entry ---------------------------------------------------


def test_a_call_in_is_scheduled_with_its_time_place_and_invited_groups(desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("call-in-scheduled")
    answer = desk.send("call-in-scheduled", {
        "call_in_id": "ci-2026-03", "scheduled_for": "2026-03-20T14:00", "location": "Rådhuset, sal 3",
        "invited_group_ids": "norra\r\n\r\n sodra \r\n"}, hidden)
    assert answer.status_code == 200, answer.text
    [event] = published(intake, hidden["event_id"])
    assert (event["type"], event["source"]) == ("gvi.callin.scheduled.v1", "/agencies/municipality")
    assert event["data"] == {"call_in_id": "ci-2026-03", "scheduled_for": "2026-03-20T13:00:00Z",
                             "location": "Rådhuset, sal 3", "invited_group_ids": ["norra", "sodra"]}
    assert key_of(intake, hidden["event_id"]) == "call-in:ci-2026-03"
    [entry] = [e for e in desk.access.entries if e.resource is Resource.DATA_ENTRY]
    assert (entry.user, entry.resource_id) == ("coordinator", hidden["event_id"])


def test_a_scheduled_call_in_refused_shows_the_intakes_words_beside_each_field(
        desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("call-in-scheduled")
    typed = {"call_in_id": "ci-2026-04", "scheduled_for": "2026-03-20T14:00", "location": "",
             "invited_group_ids": "norra\nsodra 7"}
    answer = desk.send("call-in-scheduled", typed, hidden)
    assert answer.status_code == 422
    assert field_error(answer.text, "location")                      # required: the intake says so
    assert field_error(answer.text, "invited_group_ids").startswith("line 2: ")
    assert "may hold only letters" in field_error(answer.text, "invited_group_ids")
    assert "norra\nsodra 7</textarea>" in answer.text and 'value="2026-03-20T14:00"' in answer.text
    twice = desk.send("call-in-scheduled",
                      {**typed, "location": "Rådhuset", "invited_group_ids": "norra\nnorra"}, hidden)
    assert twice.status_code == 422 and "the same id twice" in field_error(twice.text, "invited_group_ids")
    unreadable = desk.send("call-in-scheduled", {**typed, "scheduled_for": "next Friday"}, hidden)
    assert unreadable.status_code == 422  # the dashboard's own check, as for the event's time
    assert "2026-03-01T14:30" in field_error(unreadable.text, "scheduled_for")
    assert not published(intake, hidden["event_id"])


@pytest.mark.parametrize(("form", "event_type", "typed"), [
    ("support-accepted", "gvi.support.accepted.v1", {"service": "relocation"}),
    ("exit-milestone", "gvi.exit.milestone.v2", {"milestone": "left_group", "service": "relocation"}),
])
def test_support_accepted_and_an_exit_milestone_are_recorded(desk: Desk, intake: Intake, form: str,
                                                             event_type: str, typed: dict[str, str]) -> None:
    desk.login("coordinator")
    hidden = desk.open(form)
    bad = desk.send(form, {"group_id": "norra", "person_ref": "s 1", **typed}, hidden)
    assert bad.status_code == 422 and "may hold only letters" in field_error(bad.text, "person_ref")
    assert 'value="s 1"' in bad.text and not published(intake, hidden["event_id"])
    answer = desk.send(form, {"group_id": "norra", "person_ref": "mun:s-7", **typed}, hidden)
    assert answer.status_code == 200, answer.text
    [event] = published(intake, hidden["event_id"])
    assert (event["type"], event["agency"]) == (event_type, "municipality")
    assert event["data"] == {"group_id": "norra", "person_ref": "mun:s-7", **typed}
    assert key_of(intake, hidden["event_id"]) == "norra"


def test_the_exit_form_records_a_person_leaving_the_group_as_the_milestone_of_v2(
        desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("exit-milestone")
    page = desk.client.get("/enter/exit-milestone").text
    assert 'value="left_group"' in page and 'value="left_area"' in page  # a choice, not free text
    missing = desk.send("exit-milestone", {"group_id": "norra", "person_ref": "mun:s-7"}, hidden)
    assert missing.status_code == 422 and field_error(missing.text, "milestone")
    answer = desk.send("exit-milestone", {"group_id": "norra", "person_ref": "mun:s-7",
                                          "milestone": "left_group"}, hidden)
    assert answer.status_code == 200, answer.text
    [event] = published(intake, hidden["event_id"])
    assert event["data"] == {"group_id": "norra", "person_ref": "mun:s-7", "milestone": "left_group"}


def test_the_forms_offered_decide_and_the_intake_still_refuses_what_the_role_does_not_allow(
        intake: Intake, tmp_path: Path) -> None:
    civil_offered_exit = tmp_path / "keys.toml"
    civil_offered_exit.write_text(KEYS.read_text().replace(
        'forms = ["support", "support-accepted", "retraction"]',
        'forms = ["support", "support-accepted", "exit-milestone", "retraction"]'))
    for desk in desk_for(intake.url):
        desk.login("civil")  # civil society is not offered the exit form in the development file
        assert desk.client.get("/enter/exit-milestone").status_code == 403
        assert "/enter/support-accepted" in desk.client.get("/enter").text
    for desk in desk_for(intake.url, keys=civil_offered_exit):
        desk.login("civil")  # offered by a keys file, it is still outside civil society's role
        hidden = desk.open("exit-milestone")
        answer = desk.send("exit-milestone", {"group_id": "norra", "person_ref": "mun:s-7",
                                              "milestone": "intake", "service": "relocation"}, hidden)
        assert answer.status_code == 403 and "gvi.exit.milestone.v2" in html.unescape(answer.text)
        assert 'value="relocation"' in answer.text and not published(intake, hidden["event_id"])


def test_a_police_user_ends_a_relation_between_two_groups(desk: Desk, intake: Intake) -> None:
    desk.login("police")
    index = desk.client.get("/enter")
    assert "/enter/relation-ended" in index.text and "/enter/support" not in index.text
    assert desk.client.get("/enter/call-in").status_code == 403
    hidden = desk.open("relation-ended")
    bad = desk.send("relation-ended", {"group_id": "norra", "other_group_id": "södra 7"}, hidden)
    assert bad.status_code == 422 and "may hold only letters" in field_error(bad.text, "other_group_id")
    same = desk.send("relation-ended", {"group_id": "norra", "other_group_id": "norra"}, hidden)
    assert same.status_code == 422 and "must differ from group_id" in html.unescape(same.text)
    answer = desk.send("relation-ended", {"group_id": "norra", "other_group_id": "sodra"}, hidden)
    assert answer.status_code == 200, answer.text
    [event] = published(intake, hidden["event_id"])
    assert (event["type"], event["source"], event["agency"]) == (
        "gvi.group.relation.ended.v1", "/agencies/police", "police")
    assert event["data"] == {"group_id": "norra", "other_group_id": "sodra"}
    logged = {(e.user, str(e.role), e.resource_id) for e in desk.access.entries
              if e.resource is Resource.DATA_ENTRY}
    assert logged == {("police", "analyst", hidden["event_id"])}  # each try, the refused ones too


def test_the_municipality_is_not_offered_the_polices_form(desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    assert "/enter/relation-ended" not in desk.client.get("/enter").text
    assert desk.client.get("/enter/relation-ended").status_code == 403
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', desk.client.get("/enter").text)
    assert csrf is not None
    refused = desk.client.post("/enter/relation-ended", follow_redirects=False, data={
        "csrf_token": csrf.group(1), "event_id": "7d2ad9a4-0c61-4f6c-9d4a-6a1f0f1c0b12",
        "time": "2026-03-01T14:30", "group_id": "norra", "other_group_id": "sodra"})
    assert refused.status_code == 403 and not published(intake, "7d2ad9a4-0c61-4f6c-9d4a-6a1f0f1c0b12")
    assert not [e for e in desk.access.entries if e.resource is Resource.DATA_ENTRY]


def test_an_entry_is_retracted_from_its_receipt_at_the_intake_that_took_it(desk: Desk,
                                                                           intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("support")
    receipt = desk.send("support", {"group_id": "norra", "service": "housing"}, hidden)
    original = hidden["event_id"]
    link = re.search(r'href="(/enter/retraction\?retracted_event_id=[^"]+)" id="retract-entry"', receipt.text)
    assert link is not None
    form = desk.client.get(html.unescape(link.group(1)))
    assert form.status_code == 200 and f'value="{original}"' in form.text
    retraction = {name: html.unescape(value) for name, value in
                  re.findall(r'name="(csrf_token|event_id|time)"[^>]* value="([^"]*)"', form.text)}
    reason = "Entered in error:\nwrong group."
    answer = desk.send("retraction", {"retracted_event_id": original, "reason": reason}, retraction)
    assert answer.status_code == 200, answer.text
    assert 'id="retract-entry"' not in answer.text  # a retraction cannot be retracted
    [event] = published(intake, retraction["event_id"])
    assert (event["type"], event["source"]) == ("gvi.event.retracted.v1", "/agencies/municipality")
    assert event["data"] == {"retracted_event_id": original, "reason": reason}
    assert key_of(intake, retraction["event_id"]) == key_of(intake, original) == "norra"
    again = desk.send("retraction", {"retracted_event_id": original, "reason": reason}, retraction)
    assert again.status_code == 200 and "recorded before" in again.text
    assert len(published(intake, retraction["event_id"])) == 1
    entries = [e.resource_id for e in desk.access.entries if e.resource is Resource.DATA_ENTRY]
    assert entries == [original, retraction["event_id"], retraction["event_id"]]


def test_a_retraction_the_intake_refuses_says_why_beside_the_event_id(desk: Desk, intake: Intake) -> None:
    desk.login("coordinator")
    hidden = desk.open("support")
    assert desk.send("support", {"group_id": "norra", "service": "work"}, hidden).status_code == 200
    municipalitys = hidden["event_id"]
    intake.ledger.add([Receipt("0b0c0d0e-0000-4000-8000-000000000001", "/agencies/municipality",
                               "gvi.sanction.recorded.v1", "sanctions", 0, 0, "2026-01-01T00:00:00Z", "norra",
                               "sha-256:x")])

    def refused(event_id: str) -> str:
        form = desk.open("retraction")
        answer = desk.send("retraction", {"retracted_event_id": event_id, "reason": "wrong"}, form)
        assert answer.status_code == 422, answer.text
        assert f'value="{event_id}"' in answer.text and not published(intake, form["event_id"])
        return field_error(answer.text, "retracted_event_id")

    assert "no event with id" in refused("7d2ad9a4-0c61-4f6c-9d4a-6a1f0f1c0b13")
    assert "post the retraction to the sanctions intake" in refused("0b0c0d0e-0000-4000-8000-000000000001")
    first = desk.open("retraction")
    desk.send("retraction", {"retracted_event_id": municipalitys, "reason": "wrong"}, first)
    assert "cannot be retracted" in html.unescape(desk.send("retraction", {
        "retracted_event_id": first["event_id"], "reason": "undo"}).text)
    desk.client.cookies.clear()
    desk.login("civil")  # another agency's entry: the intake knows none of civil society's by that id
    assert "no event with id" in refused(municipalitys)
    desk.client.cookies.clear()
    desk.login("operator")
    assert desk.client.get("/enter/retraction").status_code == 403


def test_every_form_has_its_labels_in_english_and_swedish() -> None:
    from services.dashboard.i18n import labels

    for lang in ("en", "sv"):
        t = labels(lang)
        for spec in FORMS.values():
            assert f"form_{spec.name}" in t, (lang, spec.name)
            for asked in spec.fields:
                assert f"field_{spec.name}_{asked.name}" in t or f"field_{asked.name}" in t, (
                    lang, asked.name)
    assert labels("sv")["form_relation-ended"] != labels("en")["form_relation-ended"]


def test_a_retraction_goes_to_the_intake_of_the_agencys_other_forms(tmp_path: Path) -> None:
    assert entries_intake(FORM_NAMES) is Service.NOTIFICATIONS
    assert entries_intake(["retraction"]) is None
    alone = tmp_path / "keys.toml"
    alone.write_text('[[agency]]\nname = "municipality"\nsource = "/agencies/municipality"\n'
                     'key = "dev-municipality-key"\nforms = ["retraction"]\n'
                     '[[agency]]\nname = "civil-society"\nsource = "/agencies/civil-society"\n'
                     'key = "dev-civil-key"\n[[agency]]\nname = "police"\nsource = "/agencies/police"\n'
                     'key = "dev-police-key"\n')
    settings = DashboardSettings(GVI_ENV="development", GVI_USERS_FILE=USERS, GVI_DATA_ENTRY_KEYS_FILE=alone)
    with pytest.raises(ConfigError, match="retraction form"):
        create_app(settings, adapters=Adapters(access_log=MemoryAccessLog(), ready=_ready,
                                               audit=FixedAuditTrail()))
