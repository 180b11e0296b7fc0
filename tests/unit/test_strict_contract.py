"""The contract is strict (issue 22): no coercion of strings or booleans to numbers or of numbers to
booleans, RFC 3339 strings only for times, no control or bidirectional override characters in ids,
sources and names (free text may hold line breaks and bidirectional text). The intake
(`parse_event`) and the published JSON Schemas agree on each. The readers of the log (`read_event`)
refuse what no intake ever wrote (an intake always wrote numbers, booleans and times in their
canonical form), but read a record that breaks a character rule: those rules came after events were
recorded, and a rule made stricter must never make a recorded event unreadable."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from services.contracts import EventInvalid, parse_event, read_event
from services.contracts.event_schemas import json_schemas
from tests.examples import example_event

pytestmark = pytest.mark.unit

STAMP = {"recordedtime": "2024-03-01T21:15:00Z", "agency": "police"}
CONTROL = "must not contain control characters"
URI = "must be a URI reference without spaces"
TIME = "must be an RFC 3339 date-time string"
NUMBER = "must be a JSON number without a fraction"
BOOLEAN = "must be true or false"


RIGHT_TO_LEFT = "\u0627\u0644\u0645\u062c\u0645\u0648\u0639\u0629"  # Arabic: the group


def incident(**data: Any) -> dict[str, Any]:
    return reported(data_overrides=data)


def reported(**attributes: Any) -> dict[str, Any]:
    return example_event("gvi.incident.reported.v1", **attributes)


# (event, the field refused, what its message says)
REFUSED: dict[str, tuple[dict[str, Any], str, str]] = {
    "killed true": (incident(killed=True), "data.killed", NUMBER),
    "killed '1'": (incident(killed="1"), "data.killed", NUMBER),
    "injured '0'": (incident(injured="0"), "data.injured", NUMBER),
    "confirmed 'true'": (incident(confirmed="true"), "data.confirmed", BOOLEAN),
    "confirmed 1": (incident(confirmed=1), "data.confirmed", BOOLEAN),
    "time as an epoch number": (reported(time=1709327640), "time", TIME),
    "time as an epoch string": (reported(time="1709327640"), "time", TIME),
    "time without seconds": (reported(time="2024-03-01T21:14Z"), "time", TIME),
    "time with a space": (reported(time="2024-03-01 21:14:00Z"), "time", TIME),
    "time offset without colon": (reported(time="2024-03-01T21:14:00+0100"),
                                  "time", TIME),
    "data time as an epoch": (example_event("gvi.membership.assessed.v1",
                                            data_overrides={"valid_from": 1705276800}),
                              "data.valid_from", TIME),
    "NUL in id": (reported(id="e-1\x00"), "id", CONTROL),
    "ESC in id": (reported(id="e-\x1b[31m1"), "id", CONTROL),
    "U+202E in id": (reported(id="e-\u202e1"), "id", CONTROL),
    "U+2066 in id": (reported(id="e-\u20661"), "id", CONTROL),
    "C1 control in id": (reported(id="e-\x851"), "id", CONTROL),
    "NUL in source": (reported(source="/agencies/police\x00"), "source", URI),
    "U+202E in source": (reported(source="/agencies/\u202epolice"),
                         "source", URI),
    "ESC in subject": (reported(subject="s\x1b"), "subject", CONTROL),
    "U+2069 in dataschema": (reported(dataschema="/s\u2069"),
                             "dataschema", URI),
    "NUL in a group's name": (example_event("gvi.group.registered.v1", data_overrides={"name": "Norra\x00"}),
                              "data.name", CONTROL),
    "U+202E in a group's name": (example_event("gvi.group.registered.v1",
                                               data_overrides={"name": "Norra \u202egnäget"}),
                                 "data.name", CONTROL),
    "line feed in an area": (incident(area="Rosen\ngård"), "data.area", CONTROL),
    "ESC in a location": (example_event("gvi.callin.scheduled.v1", data_overrides={"location": "sal\x1b 3"}),
                          "data.location", CONTROL),
    "U+202D in a service": (example_event("gvi.support.offered.v1", data_overrides={"service": "\u202dwork"}),
                            "data.service", CONTROL),
    "NUL in a retracted id": (example_event("gvi.event.retracted.v1",
                                            data_overrides={"retracted_event_id": "e\x00"}),
                              "data.retracted_event_id", CONTROL),
    "NUL in free text": (example_event("gvi.event.retracted.v1", data_overrides={"reason": "oops\x00"}),
                         "data.reason", "other than tab and line breaks"),
    "ESC in free text": (example_event("gvi.incident.attributed.v1",
                                       data_overrides={"reason": "new \x1b[2Jreview"}),
                         "data.reason", "other than tab and line breaks"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_the_intake_and_the_published_schema_refuse_it_naming_the_field_and_the_rule(case: str) -> None:
    raw, field, rule = REFUSED[case]
    with pytest.raises(EventInvalid) as caught:
        parse_event(raw)
    [error] = caught.value.errors
    assert error.field == field and rule in error.message, error
    assert not Draft202012Validator(json_schemas()[raw["type"]]).is_valid(raw)


CHARACTER_RULES = (CONTROL, URI, "other than tab and line breaks")


@pytest.mark.parametrize("case", [case for case, (_, _, rule) in REFUSED.items()
                                  if rule not in CHARACTER_RULES])
def test_readers_of_the_log_refuse_what_no_intake_wrote(case: str) -> None:
    raw, _, _ = REFUSED[case]
    with pytest.raises(ValueError):
        read_event(json.dumps({**raw, **STAMP}).encode())


@pytest.mark.parametrize("case", [case for case, (_, _, rule) in REFUSED.items()
                                  if rule in CHARACTER_RULES])
def test_readers_of_the_log_still_read_a_record_an_intake_wrote_before_the_character_rules(case: str) -> None:
    raw, field, _ = REFUSED[case]
    event = read_event(json.dumps({**raw, **STAMP}).encode())
    value: Any = event.to_dict()
    for part in field.split("."):
        value = value[part]
    expected: Any = raw
    for part in field.split("."):
        expected = expected[part]
    assert value == expected
    assert parse_event({**raw, **STAMP}, allow_intake_attributes=True).to_dict() == event.to_dict()


def test_free_text_may_hold_line_breaks_tabs_and_right_to_left_text() -> None:
    reason = "Fel person.\r\n\tRättad: \u202b" + RIGHT_TO_LEFT + "\u202c, \u2067" + RIGHT_TO_LEFT + "\u2069."
    raw = example_event("gvi.incident.attributed.v1", data_overrides={"reason": reason})
    assert parse_event(raw).data.reason == reason  # type: ignore[union-attr]
    assert Draft202012Validator(json_schemas()[raw["type"]]).is_valid(raw)


def test_free_text_fields_say_so_in_the_schema() -> None:
    data = json_schemas()["gvi.incident.attributed.v1"]["properties"]["data"]
    assert "free text" in data["properties"]["reason"]["description"]


def test_a_json_number_without_a_fraction_is_an_integer_as_in_json_schema() -> None:
    raw = incident(killed=2.0)
    assert parse_event(raw).data.killed == 2  # type: ignore[union-attr]
    assert Draft202012Validator(json_schemas()[raw["type"]]).is_valid(raw)
    with pytest.raises(EventInvalid):
        parse_event(incident(killed=2.5))


@pytest.mark.parametrize("time", ["2024-03-01T21:14:00Z", "2024-03-01t21:14:00.250z",
                                  "2024-03-01T22:14:00.123456+01:00", "2024-03-01T16:14:00-05:00"])
def test_rfc_3339_times_are_accepted(time: str) -> None:
    raw = reported(time=time)
    parse_event(raw)
    assert Draft202012Validator(json_schemas()[raw["type"]]).is_valid(raw)
