"""The `group-state` records: their keys, their partitions, and what a consumer makes of them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from services.contracts import CloudEvent, canonical_json
from services.sanctions.domain import GroupStatus, Ledger, derive
from services.sanctions.domain.records import (
    StateView,
    baseline_key,
    case_key,
    group_key,
    key_partition,
    partition_of,
    records_for,
    unresolved_key,
    unwarned_key,
)
from services.sanctions.domain.state import LinkRule, ResolvedBy, SanctionLink, WarningEntry, assembled
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


def test_an_assembled_link_is_the_link_model_construct_makes() -> None:
    values = {"sanction_id": "s1", "source": "/agencies/police", "agency": "police",
              "time": datetime(2024, 3, 1, tzinfo=UTC), "kind": "arrest", "rule": LinkRule.BASELINE,
              "resolved_by": ResolvedBy.MEMBERSHIP, "membership_ids": ("m1", "m2")}
    link, constructed = assembled(SanctionLink, dict(values)), SanctionLink.model_construct(**values)
    assert link == constructed and hash(link) == hash(constructed)
    assert link.to_json() == constructed.to_json()
    assert SanctionLink.model_validate_json(link.to_json()) == link
    with pytest.raises(TypeError, match="exactly the fields"):
        assembled(SanctionLink, {k: v for k, v in values.items() if k != "agency"})
    in_order = assembled(SanctionLink, {name: values[name] for name in SanctionLink.model_fields})
    assert in_order == link and list(in_order.__dict__) == list(SanctionLink.model_fields)
    reordered = assembled(SanctionLink, dict(reversed(values.items())))
    assert list(reordered.__dict__) == list(SanctionLink.model_fields)


def test_the_rules_assemble_every_record_with_its_fields_in_declaration_order() -> None:
    # `assembled_in_order` trusts the rules' literals: a field out of order would change the JSON
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
            assert list(record.__dict__) == list(type(record).model_fields), type(record).__name__
        assert type(state).model_validate_json(state.to_json()) == state


def test_a_copy_of_an_assembled_record_changes_no_other_record() -> None:
    # the records of a class share one set of fields given; a copy with changes must not touch it
    values = {"channel": "letter", "event_id": "w1", "time": datetime(2024, 3, 1, tzinfo=UTC)}
    first, second = assembled(WarningEntry, dict(values)), assembled(WarningEntry, dict(values))
    changed = first.model_copy(update={"event_id": "w2"})
    assert (changed.event_id, first.event_id, second.event_id) == ("w2", "w1", "w1")
    assert first.model_fields_set == second.model_fields_set == set(WarningEntry.model_fields)
    assert changed.to_json() != first.to_json() == second.to_json()


def test_a_groups_records_share_its_partition() -> None:
    for group_id in ("norra", "sodra", "g-17", "ö"):
        partitions = {partition_of(key, 6) for key in (group_key(group_id), case_key(group_id, "i9"))}
        assert len(partitions) == 1


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


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=64))
def test_a_key_goes_to_the_partition_kafkas_default_partitioner_gives_it(key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    assert key_partition(key, partitions) == DefaultPartitioner()(key, every, every)


def test_the_records_published_by_the_thousand_take_the_fast_canonical_serialiser() -> None:
    from services.sanctions.domain.alerts import Alert, AlertWithdrawal
    from services.sanctions.domain.state import GroupState, UnresolvedSanction, _in_name_order
    # they and the records inside them (cases, links, warnings, provenance) declare their fields in
    # name order: a replay serialises hundreds of megabytes of group states
    for record in (GroupState, Alert, AlertWithdrawal, UnresolvedSanction):
        assert _in_name_order(record), record.__name__


@pytest.mark.parametrize("text", ["plain", "Malmö", "tab\there", "quote \" and \\ back", "\x01\x1f\x7f",
                                  "emoji \U0001F600", "</script>", "\u2028\u2029", "é" * 300])
def test_the_fast_serialiser_escapes_text_as_canonical_json_does(text: str) -> None:
    when = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    link = assembled(SanctionLink, {"sanction_id": text, "source": "/agencies/police", "agency": text,
                                    "time": when, "kind": text, "rule": LinkRule.BASELINE,
                                    "resolved_by": ResolvedBy.MEMBERSHIP, "membership_ids": (text, "m2")})
    assert link.to_json() == canonical_json(link.model_dump(mode="json"))


@given(st.text(), st.floats(min_value=-1e6, max_value=1e6).map(lambda x: round(x, 2)))
def test_the_fast_serialiser_writes_any_text_and_day_count_as_canonical_json_does(text: str,
                                                                                   days: float) -> None:
    from services.sanctions.domain.state import CaseProvenance, CaseState, CaseStatus
    when = datetime(2024, 3, 1, tzinfo=UTC)
    case = assembled(CaseState, {
        "incident_id": text, "incident_time": when, "warning_id": text, "sanction_ids": (text,),
        "first_sanction_time": when, "days_to_first_sanction": days, "status": CaseStatus.SANCTIONED,
        "provenance": assembled(CaseProvenance, {"report_id": text, "attribution_id": None,
                                                 "warning_id": text, "presented_by": None}),
        "links": ()})
    assert case.to_json() == canonical_json(case.model_dump(mode="json"))


def test_a_fact_made_from_an_event_is_the_named_tuple_with_its_fields_by_name() -> None:
    from services.sanctions.domain import Fact

    event = b.sanction("s1", 3, group="ga")
    fact = Fact.from_event(event, topic="sanctions", partition=2, offset=41)
    assert type(fact) is Fact and len(fact) == len(Fact._fields)
    assert fact == Fact(source=event.source, id="s1", type=event.type, time=event.time, data=event.data,
                        recordedtime=event.recordedtime, agency=event.agency, topic="sanctions",
                        partition=2, offset=41)
    assert (fact.key, fact.offset) == ((event.source, "s1"), 41)
