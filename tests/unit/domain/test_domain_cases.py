"""Rules 1-3 and 7 (warned, attribution, violation and case, group status), with ties, re-attribution,
unconfirming, retractions before and after, and duplicates."""

from __future__ import annotations

from services.contracts.group_state import CaseStatus, GroupStatus
from services.followthrough import as_fact, case_warning
from tests.unit.domain import builders as b
from tests.unit.domain.conftest import Evaluate


def test_a_group_is_warned_from_its_earliest_warning(evaluate: Evaluate) -> None:
    state = evaluate(b.warning("w2", "ga", 20), b.warning("w1", "ga", 10)).groups["ga"]
    assert state.warned_since == b.at(10)
    assert [w.event_id for w in state.warnings] == ["w1", "w2"]
    assert state.status is GroupStatus.WARNED


def test_an_incident_from_the_warning_on_is_a_case_before_it_unwarned(evaluate: Evaluate) -> None:
    derived = evaluate(b.warning("w1", "ga", 10), b.incident("r1", "i-before", 9.99, ["ga"]),
                       b.incident("r2", "i-same", 10, ["ga"]), b.incident("r3", "i-after", 11, ["ga"]))
    state = derived.groups["ga"]
    assert [c.incident_id for c in state.cases] == ["i-same", "i-after"]
    assert state.unwarned_incident_ids == ("i-before",)


def test_violence_by_a_never_warned_group_is_unwarned(evaluate: Evaluate) -> None:
    state = evaluate(b.incident("r1", "i1", 5, ["ga"])).groups["ga"]
    assert state.status is GroupStatus.UNWARNED
    assert state.warned_since is None and state.cases == () and state.unwarned_incident_ids == ("i1",)


def test_the_case_warning_is_the_latest_at_or_before_the_incident_ties_by_id(evaluate: Evaluate) -> None:
    derived = evaluate(b.warning("w-a", "ga", 10), b.warning("w-b", "ga", 10), b.warning("w-c", "ga", 30),
                       b.incident("r1", "i1", 20, ["ga"]), b.incident("r2", "i2", 30, ["ga"]))
    cases = {c.incident_id: c for c in derived.groups["ga"].cases}
    assert cases["i1"].warning_id == "w-b"
    assert cases["i2"].warning_id == "w-c"
    assert cases["i1"].provenance.warning_id == "w-b"


def test_case_warning_is_the_latest_warning_at_or_before_the_incident() -> None:
    """Rule 3 as the one function both evaluators call: the group's warnings in (time, id, source)
    order in, the case's warning out, or None when the group was not yet warned (unwarned)."""
    warnings = [as_fact(w) for w in (b.warning("w-a", "ga", 10), b.warning("w-b", "ga", 10),
                                     b.warning("w-c", "ga", 30))]
    assert case_warning(b.at(5), []) is None  # never warned
    assert case_warning(b.at(9.99), warnings) is None  # before any warning
    assert case_warning(b.at(10), warnings) == warnings[1]  # at a warning's time: it counts, last by id
    assert case_warning(b.at(20), warnings) == warnings[1]  # between two warnings: the earlier
    assert case_warning(b.at(30), warnings) == warnings[2]
    assert case_warning(b.at(400), warnings) == warnings[2]  # no window: a warning stays in force


def test_re_attribution_moves_the_case_to_the_new_group(evaluate: Evaluate) -> None:
    derived = evaluate(b.warning("wa", "ga", 1), b.warning("wb", "gb", 1),
                       b.incident("r1", "i1", 10, ["ga"]), b.attribution("a1", "i1", 40, ["gb"]))
    assert derived.groups["ga"].cases == ()
    assert derived.groups["ga"].status is GroupStatus.WARNED
    (case,) = derived.groups["gb"].cases
    assert case.incident_time == b.at(10)
    assert (case.provenance.report_id, case.provenance.attribution_id) == ("r1", "a1")


def test_the_latest_attribution_wins_by_time_then_id(evaluate: Evaluate) -> None:
    derived = evaluate(b.warning("wa", "ga", 1), b.warning("wb", "gb", 1),
                       b.incident("r1", "i1", 10, ["gc"]), b.attribution("a-2", "i1", 50, ["gb"]),
                       b.attribution("a-1", "i1", 50, ["ga"]), b.attribution("a-0", "i1", 60, ["gb"]),
                       b.attribution("a-3", "i1", 20, ["gc"]))
    assert [c.incident_id for c in derived.groups["gb"].cases] == ["i1"]
    assert derived.groups["gb"].cases[0].provenance.attribution_id == "a-0"
    tie = evaluate(b.warning("wa", "ga", 1), b.warning("wb", "gb", 1), b.incident("r1", "i1", 10, ["gc"]),
                   b.attribution("a-2", "i1", 50, ["gb"]), b.attribution("a-1", "i1", 50, ["ga"]))
    assert tie.groups["ga"].cases == () and len(tie.groups["gb"].cases) == 1


def test_only_confirmed_incidents_count(evaluate: Evaluate) -> None:
    unconfirmed = evaluate(b.warning("w1", "ga", 1), b.incident("r1", "i1", 10, ["ga"], confirmed=False))
    assert unconfirmed.groups["ga"].cases == ()
    unconfirming = evaluate(b.warning("w1", "ga", 1), b.incident("r1", "i1", 10, ["ga"]),
                            b.attribution("a1", "i1", 12, ["ga"], confirmed=False))
    assert unconfirming.groups["ga"].cases == () and unconfirming.groups["ga"].unwarned_incident_ids == ()
    confirming = evaluate(b.warning("w1", "ga", 1), b.incident("r1", "i1", 10, ["ga"], confirmed=False),
                          b.attribution("a1", "i1", 12, ["ga"], confirmed=True))
    assert [c.incident_id for c in confirming.groups["ga"].cases] == ["i1"]


def test_an_attribution_without_its_report_opens_nothing(evaluate: Evaluate) -> None:
    derived = evaluate(b.warning("w1", "ga", 1), b.attribution("a1", "i1", 12, ["ga"]))
    assert derived.groups["ga"].cases == ()


def test_retracting_the_only_warning_turns_the_case_into_unwarned_violence(evaluate: Evaluate) -> None:
    warning = b.warning("w1", "ga", 1)
    retract = b.retraction("x1", "w1", 30, source=b.PROBATION)
    for events in ([warning, b.incident("r1", "i1", 10, ["ga"]), retract],
                   [retract, b.incident("r1", "i1", 10, ["ga"]), warning]):
        state = evaluate(*events).groups["ga"]
        assert state.status is GroupStatus.UNWARNED
        assert state.cases == () and state.unwarned_incident_ids == ("i1",) and state.warnings == ()


def test_retracting_the_earliest_warning_moves_warned_since(evaluate: Evaluate) -> None:
    state = evaluate(b.warning("w1", "ga", 1), b.warning("w2", "ga", 20), b.incident("r1", "i1", 10, ["ga"]),
                     b.incident("r2", "i2", 25, ["ga"]),
                     b.retraction("x1", "w1", 30, source=b.PROBATION)).groups["ga"]
    assert state.warned_since == b.at(20)
    assert [c.incident_id for c in state.cases] == ["i2"] and state.unwarned_incident_ids == ("i1",)


def test_only_the_retracting_agency_s_own_events_are_retracted(evaluate: Evaluate) -> None:
    state = evaluate(b.warning("w1", "ga", 1), b.retraction("x1", "w1", 30, source=b.POLICE)).groups["ga"]
    assert [w.event_id for w in state.warnings] == ["w1"]


def test_a_retracted_report_removes_the_incident(evaluate: Evaluate) -> None:
    derived = evaluate(b.retraction("x1", "r1", 30), b.warning("w1", "ga", 1),
                       b.incident("r1", "i1", 10, ["ga"]), b.attribution("a1", "i1", 12, ["ga"]))
    assert derived.groups["ga"].cases == ()


def test_a_retracted_attribution_restores_the_report_s(evaluate: Evaluate) -> None:
    derived = evaluate(b.warning("wa", "ga", 1), b.incident("r1", "i1", 10, ["ga"]),
                       b.attribution("a1", "i1", 12, ["gb"]), b.retraction("x1", "a1", 30))
    assert [c.incident_id for c in derived.groups["ga"].cases] == ["i1"]
    assert derived.groups["ga"].cases[0].provenance.attribution_id is None


def test_copies_of_an_event_count_once(evaluate: Evaluate) -> None:
    once = evaluate(b.warning("w1", "ga", 1), b.incident("r1", "i1", 10, ["ga"]),
                    b.sanction("s1", 11, group="ga"))
    again = evaluate(b.warning("w1", "ga", 1), b.incident("r1", "i1", 10, ["ga"]),
                     b.sanction("s1", 11, group="ga"), b.sanction("s1", 11, group="ga", recorded_day=50),
                     b.warning("w1", "ga", 1))
    assert once.to_json() == again.to_json()
    assert once.groups["ga"].cases[0].sanction_ids == ("s1",)


def test_the_same_id_from_two_agencies_is_two_events(evaluate: Evaluate) -> None:
    state = evaluate(b.warning("w1", "ga", 1), b.incident("r1", "i1", 10, ["ga"]),
                     b.sanction("s1", 11, group="ga"),
                     b.sanction("s1", 12, group="ga", kind="probation_action",
                                source=b.PROBATION)).groups["ga"]
    assert [(link.source, link.sanction_id) for link in state.cases[0].links] == [
        (b.POLICE, "s1"), (b.PROBATION, "s1")]


def test_group_status_moves_through_its_stages(evaluate: Evaluate) -> None:
    steps = [b.registered("g1", "ga", "Norra"), b.warning("w1", "ga", 1), b.incident("r1", "i1", 10, ["ga"]),
             b.sanction("s1", 12, group="ga"), b.scheduled("c1", "ci-1", 5, ["ga"]), b.held("h1", "ci-1", 20),
             b.incident("r2", "i2", 25, ["ga"])]
    expected = [GroupStatus.UNWARNED, GroupStatus.WARNED, GroupStatus.AWAITING_SANCTION,
                GroupStatus.SANCTIONED, GroupStatus.SANCTIONED, GroupStatus.PRESENTED,
                GroupStatus.AWAITING_SANCTION]
    for n, status in enumerate(expected, start=1):
        assert evaluate(*steps[:n]).groups["ga"].status is status, n


def test_a_group_with_nothing_to_show_has_no_state(evaluate: Evaluate) -> None:
    derived = evaluate(b.warning("w1", "ga", 1), b.retraction("x1", "w1", 2, source=b.PROBATION),
                       b.membership("m1", "p1", "gb", 0, 100), b.relation("rel", "ga", "gb"))
    assert derived.groups == {}


def test_name_from_the_latest_registration(evaluate: Evaluate) -> None:
    derived = evaluate(b.registered("g2", "ga", "Södra", 5), b.registered("g1", "ga", "Norra", 1),
                       b.warning("w1", "gb", 1))
    assert (derived.groups["ga"].name, derived.groups["ga"].registration_id) == ("Södra", "g2")
    assert derived.groups["gb"].name is None


def test_case_status_is_awaiting_until_a_sanction_links(evaluate: Evaluate) -> None:
    derived = evaluate(b.warning("w1", "ga", 1), b.incident("r1", "i1", 10, ["ga"]))
    (case,) = derived.groups["ga"].cases
    assert case.status is CaseStatus.AWAITING_SANCTION
    assert (case.first_sanction_time, case.days_to_first_sanction, case.sanction_ids) == (None, None, ())



def test_the_events_that_count_are_in_time_then_id_then_source_order() -> None:
    from services.followthrough import effective_facts

    def warning(event_id: str, day: float, source: str = b.POLICE) -> object:
        return b.event("gvi.warning.delivered.v1", event_id, day, {"group_id": "ga"}, source=source)

    def order(*events: object) -> list[tuple[str, str]]:
        return [(f.id, f.source) for f in effective_facts(events)]  # type: ignore[arg-type]

    # distinct times: by time, whatever the ids and the order given
    assert order(warning("a", 3), warning("c", 1), warning("b", 2)) == [
        ("c", b.POLICE), ("b", b.POLICE), ("a", b.POLICE)]
    # a tie on time anywhere: ties by id, then by source; the rest still by time
    tied = order(warning("z", 5), warning("y", 2), warning("x", 2, b.PROBATION), warning("x", 2),
                 warning("w", 1))
    assert tied == [("w", b.POLICE), ("x", b.POLICE), ("x", b.PROBATION), ("y", b.POLICE), ("z", b.POLICE)]
