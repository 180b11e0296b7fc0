"""The `group-state` records: their keys and what a consumer makes of them (partitions:
`tests/unit/test_processor_partitioning.py`)."""

from __future__ import annotations

import pytest

from services.contracts import CloudEvent, canonical_json
from services.contracts.group_state import GroupStatus
from services.contracts.group_state_records import (
    StateView,
    baseline_key,
    case_key,
    group_key,
    unresolved_key,
    unwarned_key,
)
from services.followthrough import Ledger, derive, records_for
from tests.unit.domain import builders as b


def _publish(*events: CloudEvent) -> dict[bytes, bytes | None]:
    ledger = Ledger()
    topic: dict[bytes, bytes | None] = {}
    for event in events:
        for key, value in records_for(ledger, ledger.apply(event)):
            topic[key] = value
    return topic


def test_keys_are_canonical_json_arrays() -> None:
    assert group_key("norra") == b'["group","norra"]'
    assert case_key("norra", "i1") == b'["case","norra","i1"]'
    assert unresolved_key("/agencies/police", "s1") == b'["unresolved","/agencies/police","s1"]'


@pytest.mark.parametrize("text", ["norra", "Rosengård ö", 'quote " and \\ back', "tab\tnew\nline\x01",
                                  "emoji \U0001F600", "</script>", "\u2028"])
def test_every_key_is_byte_for_byte_what_canonical_json_makes(text: str) -> None:
    assert group_key(text) == canonical_json(["group", text])
    assert case_key(text, text) == canonical_json(["case", text, text])
    assert unwarned_key(text, "i") == canonical_json(["unwarned", text, "i"])
    assert baseline_key(text, "/agencies/x", text) == canonical_json(["baseline", text, "/agencies/x", text])
    assert unresolved_key(text, text) == canonical_json(["unresolved", text, text])


def test_the_records_of_both_evaluations_are_valid_and_serialise_to_golden_bytes() -> None:
    events = (b.registered("r1", "ga", "Norra", 0), b.warning("w1", "ga", 1),
              b.incident("i1", "inc-1", 2, ["ga"]), b.sanction("s1", 3, group="ga"),
              b.sanction("s2", 4, group="ga", incident="inc-1"), b.sanction("s0", 0.5, group="ga"),
              b.scheduled("c1", "ci-1", 2, ["ga"]), b.held("h1", "ci-1", 5))
    ledger = Ledger()
    for event in events:
        ledger.apply(event)
    for state in (ledger.derived().groups["ga"], derive(events).groups["ga"]):  # both evaluations
        (case,) = state.cases
        records = [state, case, case.provenance, *case.links, *state.baseline_links, *state.warnings]
        assert {type(r).__name__ for r in records} == {"GroupState", "CaseState", "CaseProvenance",
                                                       "SanctionLink", "WarningEntry"}
        for record in records:
            assert type(record).model_validate(record.model_dump()) == record, type(record).__name__
        assert type(state).model_validate_json(state.to_json()) == state
        assert state.to_json() == _GOLDEN_STATE


_GOLDEN_STATE = (
    b'{"baseline_links":[{"agency":"police","kind":"arrest","membership_ids":[],"resolved_by":"named_group",'
    b'"rule":"baseline","sanction_id":"s0","source":"/agencies/police","time":"2024-01-01T12:00:00Z"}],'
    b'"baseline_sanction_ids":["s0"],"cases":[{"days_to_first_sanction":1.0,'
    b'"first_sanction_time":"2024-01-04T00:00:00Z","incident_id":"inc-1","incident_time":"2024-01-03T00:00:00Z",'
    b'"links":[{"agency":"police","kind":"arrest","membership_ids":[],"resolved_by":"named_group",'
    b'"rule":"latest_case_within_window","sanction_id":"s1","source":"/agencies/police",'
    b'"time":"2024-01-04T00:00:00Z"},{"agency":"police","kind":"arrest","membership_ids":[],'
    b'"resolved_by":"named_group","rule":"explicit_incident","sanction_id":"s2","source":"/agencies/police",'
    b'"time":"2024-01-05T00:00:00Z"}],"provenance":{"attribution_id":null,"presented_by":{"call_in_id":"ci-1",'
    b'"held_id":"h1","held_time":"2024-01-06T00:00:00Z","scheduled_id":"c1"},"report_id":"i1",'
    b'"warning_id":"w1"},"sanction_ids":["s1","s2"],"status":"presented","warning_id":"w1"}],'
    b'"group_id":"ga","name":"Norra","registration_id":"r1","rule_version":2,"status":"presented",'
    b'"unwarned_incident_ids":[],"warned_since":"2024-01-02T00:00:00Z",'
    b'"warnings":[{"channel":"home_visit","event_id":"w1","time":"2024-01-02T00:00:00Z"}]}')
"""What rule version 2 publishes for the events above: keys sorted, no whitespace, times in UTC."""


def test_a_case_is_its_own_record_and_the_summary_counts_it() -> None:
    topic = _publish(b.warning("w1", "norra", 1), b.incident("r1", "i1", 5, ["norra"]))
    assert topic[case_key("norra", "i1")] is not None
    view = StateView()
    view.apply_all(topic.items())
    summary = view.summary("norra")
    assert summary is not None
    assert (summary.status, summary.case_count, summary.open_case_count, summary.last_incident_id) == (
        GroupStatus.AWAITING_SANCTION, 1, 1, "i1")


def test_a_retracted_incident_leaves_a_tombstone() -> None:
    topic = _publish(b.warning("w1", "norra", 1), b.incident("r1", "i1", 5, ["norra"]),
                     b.retraction("x1", "r1", 6))
    assert topic[case_key("norra", "i1")] is None
    view = StateView()
    view.apply_all(topic.items())
    state = view.group("norra")
    assert state is not None and state.cases == () and state.status is GroupStatus.WARNED


@pytest.mark.parametrize("key", [b"[]", b'["case","g"]', b'["weird","g"]', b'{"group":"g"}', b'["group",1]'])
def test_a_foreign_key_is_refused(key: bytes) -> None:
    with pytest.raises(ValueError, match="not a group-state key"):
        StateView().apply(key, None)


def test_a_fact_made_from_an_event_is_the_named_tuple_with_its_fields_by_name() -> None:
    from services.followthrough import Fact

    event = b.sanction("s1", 3, group="ga")
    fact = Fact.from_event(event, topic="sanctions", partition=2, offset=41)
    assert type(fact) is Fact and len(fact) == len(Fact._fields)
    assert fact == Fact(source=event.source, id="s1", type=event.type, time=event.time, data=event.data,
                        recordedtime=event.recordedtime, agency=event.agency, topic="sanctions",
                        partition=2, offset=41)
    assert (fact.key, fact.offset) == ((event.source, "s1"), 41)
