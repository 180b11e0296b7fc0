"""The event contract as an agency developer or a consumer meets it: what is accepted, what is refused
and why, how events are serialised, keyed and routed."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.contracts import (
    ALL_TOPICS,
    DERIVED_TOPICS,
    EVENT_TYPES,
    RETRACTION_TYPE,
    SOURCE_TOPICS,
    CloudEvent,
    EventInvalid,
    FieldError,
    Service,
    canonical_json,
    owner_of,
    parse_event,
    partition_key,
    read_event,
    types_owned_by,
)
from services.contracts.events import ExitMilestone, ExitMilestoneKind, ExitMilestoneV2
from tests.examples import EXAMPLE_DATA, OMIT, example_event

pytestmark = pytest.mark.unit

ALL_TYPES = sorted(EVENT_TYPES)


def refusal(raw: dict[str, Any], **kwargs: Any) -> list[FieldError]:
    with pytest.raises(EventInvalid) as caught:
        parse_event(raw, **kwargs)
    return caught.value.errors


def test_every_event_type_has_one_canonical_example() -> None:
    assert set(EXAMPLE_DATA) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_the_example_of_every_type_parses_into_its_model(event_type: str) -> None:
    event = parse_event(example_event(event_type))
    assert event.type == event_type
    assert isinstance(event.data, EVENT_TYPES[event_type])
    assert parse_event(event.to_dict()) == event


def test_example_event_fills_in_a_fresh_id_and_takes_overrides() -> None:
    first, second = example_event("gvi.group.registered.v1"), example_event("gvi.group.registered.v1")
    assert first["id"] != second["id"]
    custom = example_event("gvi.warning.delivered.v1", id="w-1", source="/agencies/probation",
                           data_overrides={"channel": "letter", "call_in_id": OMIT}, subject="s", time=OMIT)
    assert custom["id"] == "w-1" and custom["source"] == "/agencies/probation"
    assert custom["subject"] == "s" and "time" not in custom
    assert custom["data"]["channel"] == "letter" and "call_in_id" not in custom["data"]
    assert "call_in_id" in example_event("gvi.warning.delivered.v1")["data"], "overrides leaked"


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_an_unknown_data_field_is_refused_by_name(event_type: str) -> None:
    errors = refusal(example_event(event_type, data_overrides={"colour": "red"}))
    assert errors == [FieldError("data.colour", "unknown field; remove it")]


def test_an_unknown_envelope_attribute_is_refused_by_name() -> None:
    errors = refusal(example_event("gvi.group.registered.v1", traceparent="00-abc"))
    assert errors == [FieldError("traceparent", "unknown field; remove it")]


@pytest.mark.parametrize("valid_until", ["2024-01-15T00:00:00Z", "2024-01-14T00:00:00Z",
                                         "2024-01-15T00:30:00+01:00"])
def test_a_membership_must_end_after_it_starts(valid_until: str) -> None:
    raw = example_event("gvi.membership.assessed.v1", data_overrides={"valid_until": valid_until})
    assert refusal(raw) == [FieldError("data", "valid_until must be later than valid_from")]


def test_a_sanction_must_name_a_group_or_a_person() -> None:
    raw = example_event("gvi.sanction.recorded.v1", data_overrides={"group_id": OMIT, "person_ref": OMIT})
    assert refusal(raw) == [FieldError("data", "a sanction must name a group_id, a person_ref, or both")]
    for missing in ("group_id", "person_ref"):
        parse_event(example_event("gvi.sanction.recorded.v1", data_overrides={missing: OMIT}))


def test_a_warning_at_a_call_in_must_name_the_call_in() -> None:
    raw = example_event("gvi.warning.delivered.v1", data_overrides={"call_in_id": OMIT})
    assert refusal(raw) == [FieldError("data", "a warning delivered at a call-in must name its call_in_id")]
    parse_event(example_event("gvi.warning.delivered.v1",
                              data_overrides={"channel": "home_visit", "call_in_id": OMIT}))


def test_a_group_cannot_be_related_to_itself() -> None:
    raw = example_event("gvi.group.relation.recorded.v1", data_overrides={"other_group_id": "grp-norra-42"})
    assert refusal(raw) == [FieldError("data", "other_group_id must differ from group_id")]


def test_a_list_of_groups_names_each_group_once() -> None:
    raw = example_event("gvi.incident.reported.v1", data_overrides={"suspected_group_ids": ["g1", "g1"]})
    assert refusal(raw) == [FieldError("data.suspected_group_ids", "must not list the same id twice")]


@pytest.mark.parametrize("attribute", ["recordedtime", "agency"])
def test_intake_attributes_are_refused_from_clients(attribute: str) -> None:
    stamp: dict[str, Any] = {attribute: "2024-03-01T21:15:00Z" if attribute == "recordedtime" else "police"}
    raw = example_event("gvi.group.registered.v1", **stamp)
    assert refusal(raw) == [FieldError(attribute, "is set by the intake on acceptance; remove it")]
    assert getattr(parse_event(raw, allow_intake_attributes=True), attribute) is not None


def test_an_unknown_type_is_refused_with_the_list_of_known_types() -> None:
    [error] = refusal(example_event("gvi.group.registered.v1", type="gvi.group.renamed.v1"))
    assert error.field == "type"
    assert "gvi.group.renamed.v1" in error.message
    assert all(known in error.message for known in EVENT_TYPES)


def test_every_problem_is_reported_at_once() -> None:
    raw = example_event("gvi.incident.reported.v1", time="yesterday", agency="police",
                        data_overrides={"kind": "riot", "killed": -1})
    fields = {error.field for error in refusal(raw)}
    assert fields == {"time", "agency", "data.kind", "data.killed"}


def test_a_time_without_an_offset_is_refused() -> None:
    [error] = refusal(example_event("gvi.group.registered.v1", time="2024-03-01T21:14:00"))
    assert error.field == "time" and "timezone" in error.message


def test_equal_instants_in_other_offsets_give_equal_bytes_and_digest() -> None:
    in_utc = parse_event(example_event("gvi.membership.assessed.v1", id="e-1"))
    in_cet = parse_event(example_event(
        "gvi.membership.assessed.v1", id="e-1", time="2024-03-01T22:14:00+01:00",
        data_overrides={"valid_from": "2024-01-15T01:00:00+01:00",
                        "valid_until": "2025-01-15T00:00:00.000Z"}))
    assert in_cet.to_json() == in_utc.to_json()
    assert in_cet.content_digest() == in_utc.content_digest()
    assert in_cet.to_dict()["time"] == "2024-03-01T21:14:00Z"
    assert in_cet.to_dict()["data"]["valid_from"] == "2024-01-15T00:00:00Z"


def test_canonical_json_is_compact_sorted_and_stable() -> None:
    raw = example_event("gvi.incident.reported.v1", id="e-2")
    shuffled = dict(reversed(list(raw.items())))
    shuffled["data"] = dict(reversed(list(raw["data"].items())))
    first, second = parse_event(raw).to_json(), parse_event(shuffled).to_json()
    assert first == second
    assert first == json.dumps(json.loads(first), sort_keys=True, separators=(",", ":"),
                               ensure_ascii=False).encode()
    assert parse_event(json.loads(first)).to_json() == first


def _json_dumps(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_KEYS = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.integers(min_value=-(10**10), max_value=10**10).map(lambda n: n / 100)  # days, in hundredths
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=20)


@settings(max_examples=500, deadline=None)
@given(value=_JSON)
def test_canonical_json_gives_the_bytes_of_json_dumps(value: Any) -> None:
    """orjson makes them: the bytes `json.dumps` (sorted keys, compact, UTF-8) gives for every value
    the contracts hold, control characters, line separators and astral characters included."""
    assert canonical_json(value) == _json_dumps(value)


def test_canonical_json_writes_every_number_of_days_as_json_dumps_does() -> None:
    hundredths = [*range(-100_000, 100_001), *range(0, 400_000_000, 9_973)]  # datetime spans < 4e6 days
    days = [n / 100 for n in hundredths]
    assert canonical_json(days) == _json_dumps(days)


def test_canonical_json_refuses_what_json_dumps_refuses() -> None:
    for value in (datetime(2024, 1, 1, tzinfo=UTC), FieldError("f", "m")):
        with pytest.raises(TypeError):
            canonical_json({"v": value})


def test_the_digest_is_of_what_the_client_sent_not_of_the_intake_stamp() -> None:
    event = parse_event(example_event("gvi.group.registered.v1", id="e-3"))
    accepted = event.accepted(recordedtime=event.time, agency="police")
    assert accepted.to_json() != event.to_json()
    assert accepted.content_digest() == event.content_digest()
    changed = parse_event(example_event("gvi.group.registered.v1", id="e-3", data_overrides={"name": "X"}))
    assert changed.content_digest() != event.content_digest()


def keyed(event_type: str, **data_overrides: Any) -> str:
    return partition_key(parse_event(example_event(event_type, data_overrides=data_overrides)))


@pytest.mark.parametrize(("event_type", "key"), [
    ("gvi.group.registered.v1", "grp-norra-42"),
    ("gvi.membership.assessed.v1", "grp-norra-42"),
    ("gvi.group.relation.recorded.v1", "grp-norra-42"),
    ("gvi.callin.scheduled.v1", "call-in:ci-2024-03"),
    ("gvi.callin.held.v1", "call-in:ci-2024-03"),
    ("gvi.warning.delivered.v1", "grp-norra-42"),
    ("gvi.incident.reported.v1", "incident:inc-2024-0117"),
    ("gvi.incident.attributed.v1", "incident:inc-2024-0117"),
    ("gvi.sanction.recorded.v1", "grp-norra-42"),
    ("gvi.support.offered.v1", "grp-norra-42"),
    ("gvi.support.accepted.v1", "grp-norra-42"),
    ("gvi.exit.milestone.v1", "grp-norra-42"),
    ("gvi.exit.milestone.v2", "grp-norra-42"),
])
def test_partition_keys_follow_the_documented_rule(event_type: str, key: str) -> None:
    assert keyed(event_type) == key


def test_a_sanction_against_a_person_only_is_keyed_by_the_person() -> None:
    assert keyed("gvi.sanction.recorded.v1", group_id=OMIT) == (
        "person:" + hashlib.sha256(b"pol:p-7f3a91").hexdigest())
    assert keyed("gvi.sanction.recorded.v1", person_ref=OMIT) == "grp-norra-42"


def test_a_retraction_has_no_key_of_its_own() -> None:
    retraction = parse_event(example_event(RETRACTION_TYPE))
    with pytest.raises(ValueError, match="key of the event it retracts"):
        partition_key(retraction)


@pytest.mark.parametrize(("event_type", "owner"), [
    ("gvi.incident.reported.v1", Service.INCIDENTS),
    ("gvi.incident.attributed.v1", Service.INCIDENTS),
    ("gvi.sanction.recorded.v1", Service.SANCTIONS),
    ("gvi.group.registered.v1", Service.NOTIFICATIONS),
    ("gvi.membership.assessed.v1", Service.NOTIFICATIONS),
    ("gvi.group.relation.recorded.v1", Service.NOTIFICATIONS),
    ("gvi.callin.scheduled.v1", Service.NOTIFICATIONS),
    ("gvi.callin.held.v1", Service.NOTIFICATIONS),
    ("gvi.warning.delivered.v1", Service.NOTIFICATIONS),
    ("gvi.support.offered.v1", Service.NOTIFICATIONS),
    ("gvi.support.accepted.v1", Service.NOTIFICATIONS),
    ("gvi.exit.milestone.v1", Service.NOTIFICATIONS),
    ("gvi.exit.milestone.v2", Service.NOTIFICATIONS),
    (RETRACTION_TYPE, None),
])
def test_each_type_is_owned_by_one_service(event_type: str, owner: Service | None) -> None:
    assert owner_of(event_type) is owner


def test_every_service_takes_retractions_and_together_they_take_every_type() -> None:
    owned = {service: types_owned_by(service) for service in Service}
    assert all(RETRACTION_TYPE in types for types in owned.values())
    assert set().union(*owned.values()) == set(EVENT_TYPES)
    others = [types - {RETRACTION_TYPE} for types in owned.values()]
    assert sum(len(types) for types in others) == len(EVENT_TYPES) - 1, "a type has two owners"


def test_source_topics_are_the_services_and_keep_events_forever() -> None:
    assert [topic.name for topic in SOURCE_TOPICS] == [service.topic for service in Service]
    for topic in SOURCE_TOPICS:
        assert topic.source and topic.config["retention.ms"] == "-1"


def test_derived_topics_are_named_and_no_topic_is_declared_twice() -> None:
    assert [topic.name for topic in DERIVED_TOPICS] == ["group-state", "alerts", "access-log",
                                                        "audit-checkpoints", "data-protection",
                                                        "person-keys"]
    assert not any(topic.source for topic in DERIVED_TOPICS)
    names = [topic.name for topic in ALL_TOPICS]
    assert len(names) == len(set(names))


def test_events_are_immutable() -> None:
    event = parse_event(example_event("gvi.group.registered.v1"))
    with pytest.raises(ValueError, match="frozen"):
        event.id = "other"  # type: ignore[misc]
    assert isinstance(event, CloudEvent)


STAMP = {"recordedtime": "2024-03-01T21:15:00.250000+01:00", "agency": "police"}
REFUSED_RECORDS: list[dict[str, Any]] = [
    example_event("gvi.group.registered.v1", type="gvi.group.renamed.v1", **STAMP),
    example_event("gvi.group.registered.v1", data=OMIT, **STAMP),
    example_event("gvi.group.registered.v1", traceparent="00-abc", **STAMP),
    example_event("gvi.incident.reported.v1", time="yesterday", **STAMP),
    example_event("gvi.incident.reported.v1", time="2024-03-01T21:14:00", **STAMP),
    example_event("gvi.incident.reported.v1", data_overrides={"kind": "riot"}, **STAMP),
    example_event("gvi.incident.reported.v1", data_overrides={"suspected_group_ids": ["g1", "g1"]}, **STAMP),
    example_event("gvi.sanction.recorded.v1", data_overrides={"group_id": OMIT, "person_ref": OMIT}, **STAMP),
    example_event("gvi.membership.assessed.v1", data_overrides={"valid_until": "2024-01-14T00:00:00Z"},
                  **STAMP),
    example_event("gvi.warning.delivered.v1", data_overrides={"colour": "red"}, **STAMP),
    example_event("gvi.group.registered.v1", specversion="0.3", **STAMP),
    example_event("gvi.group.registered.v1", agency="", recordedtime=STAMP["recordedtime"]),
]


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_reading_a_record_from_the_log_gives_the_event_parse_event_gives(event_type: str) -> None:
    raw = example_event(event_type, **STAMP)
    read = read_event(json.dumps(raw).encode())
    parsed = parse_event(raw, allow_intake_attributes=True)
    assert read.to_json() == parsed.to_json()
    assert type(read.data) is type(parsed.data) and read.data == parsed.data


@pytest.mark.parametrize("raw", REFUSED_RECORDS, ids=range(len(REFUSED_RECORDS)))
def test_reading_a_record_from_the_log_refuses_what_parse_event_refuses(raw: dict[str, Any]) -> None:
    with pytest.raises(EventInvalid):
        parse_event(raw, allow_intake_attributes=True)
    with pytest.raises(ValueError):
        read_event(json.dumps(raw).encode())


@pytest.mark.parametrize("value", [b"{not json", b"[]", b"null", b'"event"', b""])
def test_a_record_that_is_not_a_json_object_is_not_an_event(value: bytes) -> None:
    with pytest.raises(ValueError):
        read_event(value)


# --- gvi.exit.milestone.v2: the milestone as a field of its own (issue 21) ---------------------------

def test_both_versions_of_an_exit_milestone_are_accepted_side_by_side() -> None:
    v1 = parse_event(example_event("gvi.exit.milestone.v1", source="/agencies/municipality"))
    v2 = parse_event(example_event("gvi.exit.milestone.v2", source="/agencies/municipality"))
    assert isinstance(v1.data, ExitMilestone) and v1.data.service == "relocation"
    assert isinstance(v2.data, ExitMilestoneV2) and v2.data.milestone is ExitMilestoneKind.LEFT_AREA
    assert partition_key(v1) == partition_key(v2) == "grp-norra-42"


@pytest.mark.parametrize("milestone", [k.value for k in ExitMilestoneKind])
def test_every_milestone_is_accepted_and_the_service_is_optional(milestone: str) -> None:
    event = parse_event(example_event("gvi.exit.milestone.v2",
                                      data_overrides={"milestone": milestone, "service": OMIT}))
    assert isinstance(event.data, ExitMilestoneV2) and event.data.milestone.value == milestone
    assert event.data.service is None


def test_the_outcomes_are_milestones_of_their_own() -> None:
    assert {"left_group", "left_area"} <= {k.value for k in ExitMilestoneKind}


@pytest.mark.parametrize("value", ["left", "LEFT_GROUP", "relocation", "", 3])
def test_a_milestone_outside_the_list_is_refused_with_the_values_that_are_allowed(value: object) -> None:
    [error] = refusal(example_event("gvi.exit.milestone.v2", data_overrides={"milestone": value}))
    assert error.field == "data.milestone"
    assert all(f"'{k.value}'" in error.message for k in ExitMilestoneKind), error.message


def test_a_v2_milestone_names_its_person_and_its_milestone() -> None:
    errors = refusal(example_event("gvi.exit.milestone.v2",
                                   data_overrides={"person_ref": OMIT, "milestone": OMIT}))
    assert {(e.field, e.message) for e in errors} == {("data.person_ref", "Field required"),
                                                      ("data.milestone", "Field required")}


def test_v1_does_not_take_the_v2_field_and_v2_does_not_take_a_free_text_step_alone() -> None:
    [error] = refusal(example_event("gvi.exit.milestone.v1", data_overrides={"milestone": "left_group"}))
    assert error.field == "data.milestone" and "unknown field" in error.message
    [error] = refusal(example_event("gvi.exit.milestone.v2", data_overrides={"milestone": OMIT}))
    assert error.field == "data.milestone"
