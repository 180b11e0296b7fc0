"""The packed form in which reader processes hand facts over gives back the very fact decoding gave."""

from __future__ import annotations

import json
import marshal

import pytest
from hypothesis import HealthCheck, given, settings

from services.audit.library.decoding import _SPECS, decode_value, packed, unpacked
from services.contracts import EVENT_TYPES, CloudEvent
from services.followthrough import Fact
from tests.examples import example_event
from tests.unit.domain.test_domain_properties import scenarios

pytestmark = pytest.mark.unit


def _through_a_pipe(value: bytes, offset: int = 7) -> tuple[Fact | None, Fact | None]:
    """(what decoding gives, what the receiving side rebuilds from the packed form after marshal)."""
    fact = decode_value(value, "incidents", 3, offset)
    if fact is None:
        return None, None
    sent = marshal.dumps([packed(fact, value)])
    [item] = marshal.loads(sent)
    return fact, unpacked(item, "incidents", 3, offset)


def _assert_same(fact: Fact | None, rebuilt: Fact | None) -> None:
    assert fact is not None and rebuilt is not None
    assert rebuilt == fact
    assert type(rebuilt.data) is type(fact.data)
    assert rebuilt.data.model_dump_json() == fact.data.model_dump_json()
    assert rebuilt.data.model_fields_set == fact.data.model_fields_set
    assert rebuilt.content() == fact.content()
    assert (rebuilt.time.tzinfo, rebuilt.recordedtime) == (fact.time.tzinfo, fact.recordedtime)
    for name, value in fact.data.__dict__.items():  # enums stay enums, times stay aware times
        assert type(rebuilt.data.__dict__[name]) is type(value), name


def _accepted(raw: dict[str, object]) -> bytes:
    raw = {**raw, "recordedtime": "2026-03-01T10:00:00.123456+01:00", "agency": "police"}
    return json.dumps(raw).encode()


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_comes_back_equal(event_type: str) -> None:
    raw = example_event(event_type, id="ev-1", time="2026-02-28T23:30:00+02:00")
    _assert_same(*_through_a_pipe(_accepted(raw)))


def test_optional_fields_given_or_left_out_come_back_as_they_were() -> None:
    full = example_event("gvi.warning.delivered.v1", id="w1", data_overrides={
        "channel": "call_in", "call_in_id": "c-1", "person_ref": "p-9",
        "promised_levers": ["arrest", "search"]})
    _assert_same(*_through_a_pipe(_accepted(full)))
    bare = example_event("gvi.sanction.recorded.v1", id="s1", data_overrides={"kind": "search"})
    bare["data"] = {"kind": "search", "group_id": "g-1"}
    fact, rebuilt = _through_a_pipe(_accepted(bare))
    _assert_same(fact, rebuilt)
    assert rebuilt is not None and rebuilt.data.model_fields_set == {"kind", "group_id"}


def test_a_record_that_is_not_an_event_is_not_sent_as_one() -> None:
    assert _through_a_pipe(b'{"not": "an event"}') == (None, None)


def test_only_payloads_with_nested_records_travel_as_their_record() -> None:
    # everything else is rebuilt without validating again; a held call-in's attendance is a list of
    # records, so it is decoded again on arrival (rare: one a call-in)
    assert sorted(t for t, spec in _SPECS.items() if spec is None) == ["gvi.callin.held.v1"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_any_scenario_s_events_come_back_equal(events: list[CloudEvent]) -> None:
    for offset, event in enumerate(events):
        _assert_same(*_through_a_pipe(event.to_json(), offset))


def test_a_fact_with_a_time_not_in_utc_travels_as_its_record() -> None:
    from datetime import timedelta, timezone

    value = _accepted(example_event("gvi.sanction.recorded.v1", id="s2"))
    fact = decode_value(value, "sanctions", 0, 1)
    assert fact is not None
    elsewhere = fact._replace(time=fact.time.astimezone(timezone(timedelta(hours=2))))
    assert packed(elsewhere, value) == value
    assert unpacked(value, "sanctions", 0, 1) == fact


def test_payloads_giving_different_fields_of_the_same_number_keep_their_own_sets() -> None:
    # the sets of fields given are shared between payloads that give the same fields: two warnings
    # each giving one optional field besides the required ones must not end up with one set
    def warning(event_id: str, optional: dict[str, object]) -> bytes:
        raw = example_event("gvi.warning.delivered.v1", id=event_id)
        raw["data"] = {"group_id": "g-1", "channel": "home_visit", **optional}
        return _accepted(raw)

    to_person = decode_value(warning("w1", {"person_ref": "p-1"}), "notifications", 0, 1)
    with_levers = decode_value(warning("w2", {"promised_levers": ["arrest"]}), "notifications", 0, 2)
    again = decode_value(warning("w3", {"person_ref": "p-2"}), "notifications", 0, 3)
    assert to_person is not None and with_levers is not None and again is not None
    assert to_person.data.model_fields_set == {"group_id", "channel", "person_ref"}
    assert with_levers.data.model_fields_set == {"group_id", "channel", "promised_levers"}
    assert again.data.model_fields_set is to_person.data.model_fields_set  # shared, not copied
    assert to_person.data.model_dump_json(exclude_unset=True) == '{"group_id":"g-1","channel":"home_visit",' \
        '"person_ref":"p-1"}'
