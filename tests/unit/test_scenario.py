"""The demo scenario (devtools.scenario) is deterministic, valid, within every agency's role, and covers
the whole contract; the demo's request plan (devtools.demo) keeps each agency's stream in order."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from devtools.demo import WINDOWS, plan_requests, posting_order
from devtools.scenario import ScenarioEvent, build_scenario, rfc3339
from services.contracts import EVENT_TYPES, RETRACTION_TYPE, CloudEvent, owner_of, parse_event
from services.contracts.events import (
    GroupRegistered,
    IncidentKind,
    IncidentReported,
    MembershipAssessed,
    SanctionKind,
    WarningChannel,
)
from services.intake.agencies import Agency, load_agencies, qualifier_of

AGENCIES_FILE = Path("deploy/config/agencies.dev.toml")


@pytest.fixture(scope="module")
def scenario() -> list[ScenarioEvent]:
    return build_scenario()


@pytest.fixture(scope="module")
def parsed(scenario: list[ScenarioEvent]) -> list[CloudEvent]:
    return [parse_event(e.event) for e in scenario]


@pytest.fixture(scope="module")
def agencies() -> dict[str, Agency]:
    return {a.name: a for a in load_agencies(AGENCIES_FILE).agencies}


def test_same_seed_same_scenario_other_seed_other_scenario(scenario: list[ScenarioEvent]) -> None:
    assert build_scenario(2018) == scenario
    assert build_scenario(7) != scenario


def test_size_is_demo_sized(scenario: list[ScenarioEvent]) -> None:
    assert 1500 <= len(scenario) <= 3000


def test_every_event_parses(parsed: list[CloudEvent], scenario: list[ScenarioEvent]) -> None:
    assert len(parsed) == len(scenario)


def test_every_event_is_allowed_for_its_agency_and_posted_to_its_owner(
        scenario: list[ScenarioEvent], parsed: list[CloudEvent], agencies: dict[str, Agency]) -> None:
    for raw, event in zip(scenario, parsed, strict=True):
        agency = agencies[raw.agency]
        assert event.source == agency.source, raw.id
        assert agency.may(event.type, qualifier_of(event)), (raw.agency, event.type, qualifier_of(event))
        owner = owner_of(event.type)
        if owner is not None:
            assert raw.service == owner.value, raw.id


def test_ids_are_unique_and_deterministic(scenario: list[ScenarioEvent]) -> None:
    ids = [e.id for e in scenario]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"demo-2018-\d{5}", i) for i in ids)


def test_times_are_swedish_local_and_sorted(parsed: list[CloudEvent], scenario: list[ScenarioEvent]) -> None:
    assert all(e.time.endswith(("+01:00", "+02:00")) for e in scenario)
    times = [e.time for e in parsed]
    assert times == sorted(times)
    assert rfc3339(datetime(2018, 3, 20, 14)) == "2018-03-20T14:00:00+01:00"
    assert rfc3339(datetime(2018, 7, 1, 12)) == "2018-07-01T12:00:00+02:00"
    assert rfc3339(datetime(2018, 10, 28, 3, 30)) == "2018-10-28T03:30:00+01:00"  # after the change


def test_covers_every_type_incident_kind_and_permitted_qualifier(
        parsed: list[CloudEvent], agencies: dict[str, Agency]) -> None:
    assert {e.type for e in parsed} == set(EVENT_TYPES)
    kinds = {e.data.kind for e in parsed if isinstance(e.data, IncidentReported)}
    assert kinds == set(IncidentKind)
    permitted = {grant for a in agencies.values() for grant in a.may_post if ":" in grant}
    posted = {f"{e.type}:{qualifier_of(e)}" for e in parsed if qualifier_of(e) is not None}
    assert permitted <= posted, permitted - posted
    sanction_kinds = {g.split(":")[1] for g in permitted if g.startswith("gvi.sanction.")}
    assert sanction_kinds <= {k.value for k in SanctionKind}
    channels = {qualifier_of(e) for e in parsed if e.type == "gvi.warning.delivered.v1"}
    assert channels == {c.value for c in WarningChannel}


def test_ten_groups_and_four_years(scenario: list[ScenarioEvent]) -> None:
    groups = [e.event["data"]["group_id"] for e in scenario if e.type == "gvi.group.registered.v1"]
    assert len(groups) == len(set(groups)) == 10
    assert {e.time[:4] for e in scenario} == {"2017", "2018", "2019", "2020"}
    named = {e.event["data"].get("group_id") for e in scenario} - {None}
    assert named <= set(groups)


def test_violence_declines_like_the_malmo_figures(scenario: list[ScenarioEvent]) -> None:
    reports = [e for e in scenario if e.type == "gvi.incident.reported.v1"
               and not re.fullmatch(r"inc-\d{4}-9\d{3}", e.event["data"]["incident_id"])]
    per_year = Counter((e.time[:4], e.event["data"]["kind"]) for e in reports)
    shootings = [per_year[(y, "shooting")] for y in ("2017", "2018", "2019", "2020")]
    explosions = [per_year[(y, "explosion")] for y in ("2017", "2018", "2019", "2020")]
    assert shootings == sorted(shootings, reverse=True) and 60 <= shootings[0] <= 70
    assert explosions == sorted(explosions, reverse=True)


def test_retractions_retract_an_earlier_event_of_the_same_source_and_service(
        scenario: list[ScenarioEvent]) -> None:
    seen: dict[str, ScenarioEvent] = {}
    retracted = set()
    retractions = 0
    for event in scenario:
        if event.type == RETRACTION_TYPE:
            retractions += 1
            target = seen[event.event["data"]["retracted_event_id"]]  # posted earlier
            assert target.type != RETRACTION_TYPE
            assert (target.agency, target.service) == (event.agency, event.service)
            assert target.id not in retracted
            assert event.event["data"]["reason"]
            retracted.add(target.id)
        seen[event.id] = event
    assert retractions >= 5
    assert len({e.agency for e in scenario if e.type == RETRACTION_TYPE}) >= 4


def test_attributions_and_sanctions_name_reported_incidents(scenario: list[ScenarioEvent]) -> None:
    reported: set[str] = set()
    for event in scenario:
        data = event.event["data"]
        if event.type == "gvi.incident.reported.v1":
            reported.add(data["incident_id"])
        elif event.type == "gvi.incident.attributed.v1" or (
                event.type == "gvi.sanction.recorded.v1" and "incident_id" in data):
            assert data["incident_id"] in reported, event.id


def test_membership_periods_are_valid(parsed: list[CloudEvent]) -> None:
    registered = {e.data.group_id: e.time for e in parsed if isinstance(e.data, GroupRegistered)}
    assessments = [(e.time, e.data) for e in parsed if isinstance(e.data, MembershipAssessed)]
    assert len(assessments) > 200
    per_person = Counter(data.person_ref for _, data in assessments)
    assert any(n > 1 for n in per_person.values()), "some assessments are renewed"
    for time, data in assessments:
        assert re.fullmatch(r"pol:p-\d{6}", data.person_ref)
        assert timedelta(days=150) <= data.valid_until - data.valid_from <= timedelta(days=370)
        assert data.valid_from <= time + timedelta(days=30)
        assert registered[data.group_id] <= time


def test_call_in_warnings_name_a_held_call_in(scenario: list[ScenarioEvent]) -> None:
    held = set()
    for event in scenario:
        data = event.event["data"]
        if event.type == "gvi.callin.held.v1":
            held.add(data["call_in_id"])
        if event.type == "gvi.warning.delivered.v1" and data["channel"] == "call_in":
            assert data["call_in_id"] in held


@pytest.mark.parametrize("window", WINDOWS)
def test_demo_plan_keeps_each_stream_in_order_and_uses_every_mode(
        scenario: list[ScenarioEvent], window: str) -> None:
    ordered = posting_order(scenario, window)
    assert sorted(e.id for e in ordered) == sorted(e.id for e in scenario)
    for stream in {(e.agency, e.service) for e in scenario}:
        assert ([e.id for e in ordered if (e.agency, e.service) == stream]
                == [e.id for e in scenario if (e.agency, e.service) == stream])
    requests = list(plan_requests(ordered))
    assert [e for r in requests for e in r.events] == ordered
    assert {r.mode for r in requests} == {"batch", "structured", "binary"}
    for request in requests:
        assert 1 <= len(request.events) <= 200
        assert all((e.agency, e.service) == (request.agency, request.service) for e in request.events)
