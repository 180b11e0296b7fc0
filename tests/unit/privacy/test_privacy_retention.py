"""Retention deadlines by rule: membership months after valid_until (renewals move it on), person
years after other events, the latest of a person's events, retractions left out, and the job's
choice of who is due at an injected time (a second look at the same time finds the same)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from services.contracts.envelope import CloudEvent, read_event
from services.privacy.claims import new_pseudonym
from services.privacy.retention import RetentionPolicy, add_months, deadlines, due
from tests.examples import example_event

POLICY = RetentionPolicy(membership_months=6, person_years=5)
P = new_pseudonym()
Q = new_pseudonym()


def event(event_type: str, *, time: str = "2025-03-01T10:00:00Z", source: str = "/agencies/police",
          **data: Any) -> CloudEvent:
    return read_event(json.dumps(example_event(event_type, source=source, time=time,
                                               data_overrides=data)).encode())


def membership(person: str, until: str, **kw: Any) -> CloudEvent:
    return event("gvi.membership.assessed.v1", person_ref=person, valid_from="2025-01-01T00:00:00Z",
                 valid_until=until, **kw)


def warning(person: str, time: str) -> CloudEvent:
    return event("gvi.warning.delivered.v1", time=time, source="/agencies/probation", person_ref=person)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_months_are_calendar_months_clamped_to_the_month_end() -> None:
    assert add_months(at("2025-08-31T12:00:00Z"), 6) == at("2026-02-28T12:00:00Z")
    assert add_months(at("2025-01-15T00:00:00Z"), 60) == at("2030-01-15T00:00:00Z")


def test_a_membership_is_kept_months_after_valid_until_and_a_renewal_moves_it_on() -> None:
    first = membership(P, "2025-06-30T00:00:00Z")
    assert deadlines([first], POLICY) == {P: at("2025-12-30T00:00:00Z")}
    renewed = membership(P, "2026-06-30T00:00:00Z")
    assert deadlines([first, renewed], POLICY) == {P: at("2026-12-30T00:00:00Z")}
    assert deadlines([renewed, first], POLICY) == {P: at("2026-12-30T00:00:00Z")}  # any order


def test_a_persons_deadline_is_the_latest_of_all_their_events() -> None:
    events = [membership(P, "2025-06-30T00:00:00Z"), warning(P, "2025-02-01T09:00:00Z"),
              warning(Q, "2024-01-01T00:00:00Z")]
    assert deadlines(events, POLICY) == {P: at("2030-02-01T09:00:00Z"), Q: at("2029-01-01T00:00:00Z")}


def test_a_retracted_event_does_not_count_but_only_when_its_own_agency_retracts_it() -> None:
    late = warning(P, "2025-02-01T09:00:00Z")
    own = event("gvi.event.retracted.v1", source="/agencies/probation", retracted_event_id=late.id)
    other = event("gvi.event.retracted.v1", source="/agencies/police", retracted_event_id=late.id)
    kept = membership(P, "2025-06-30T00:00:00Z")
    assert deadlines([kept, late, own], POLICY) == {P: at("2025-12-30T00:00:00Z")}
    assert deadlines([kept, late, other], POLICY) == {P: at("2030-02-01T09:00:00Z")}
    assert deadlines([late, own], POLICY) == {}


def test_clear_references_from_before_sealing_have_no_deadline() -> None:
    assert deadlines([warning("probation:p-17", "2020-01-01T00:00:00Z")], POLICY) == {}


def test_person_refs_inside_lists_count_too() -> None:
    held = event("gvi.callin.held.v1", time="2024-05-01T18:00:00Z")
    data = held.to_dict()
    data["data"]["attended"] = [{**data["data"]["attended"][0], "person_ref": Q}]
    found = deadlines([read_event(json.dumps(data).encode())], POLICY)
    assert found == {Q: at("2029-05-01T18:00:00Z")}


def test_due_is_every_deadline_at_or_before_now_and_is_the_same_when_asked_again() -> None:
    found = {P: at("2025-12-30T00:00:00Z"), Q: at("2026-01-02T00:00:00Z")}
    assert due(found, at("2025-12-29T23:59:59Z")) == []
    assert due(found, at("2025-12-30T00:00:00Z")) == [P]
    assert due(found, at("2027-01-01T00:00:00Z")) == [P, Q] == due(found, at("2027-01-01T00:00:00Z"))


def test_the_policy_comes_from_the_environment(monkeypatch: Any) -> None:
    from services.privacy.settings import RetentionSettings

    assert RetentionSettings().retention_policy() == RetentionPolicy(12, 5)
    monkeypatch.setenv("GVI_RETENTION_MEMBERSHIP_MONTHS", "3")
    monkeypatch.setenv("GVI_RETENTION_PERSON_YEARS", "2")
    assert RetentionSettings().retention_policy() == RetentionPolicy(3, 2)
