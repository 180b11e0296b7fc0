"""Rule 9: a call-in no-show of a person on probation is raised to probation as an alert, one per
(group, call-in), naming no person; withdrawn when it no longer holds. Run by every evaluator."""

from __future__ import annotations

from services.contracts import CloudEvent
from services.contracts.alerts import AlertKind
from services.followthrough import Derived, Ledger, on_probation_since
from tests.unit.domain import builders as b
from tests.unit.domain.conftest import Evaluate

NO_SHOW = AlertKind.NO_SHOW_ON_PROBATION.value


def _no_shows(derived: Derived) -> set[tuple[str, str]]:
    return {(a.group_id, a.incident_id) for a in derived.alerts.values()
            if a.kind is AlertKind.NO_SHOW_ON_PROBATION}


def _probation(id: str, person: str, day: float) -> CloudEvent:
    return b.sanction(id, day, person=person, kind="probation_action", source=b.PROBATION)


def test_a_no_show_on_probation_raises_one_alert_per_group_and_call_in(evaluate: Evaluate) -> None:
    derived = evaluate(_probation("s1", "p1", 5), _probation("s2", "p2", 6),
                       b.held("h1", "c1", 30, no_shows=[("p1", "ga"), ("p2", "ga"), ("p3", "gb")],
                              attended=[("p4", "gb")]))
    assert _no_shows(derived) == {("ga", "c1")}  # p3 is not known to probation; p4 came


def test_probation_counts_three_years_and_not_before_the_action(evaluate: Evaluate) -> None:
    late = evaluate(_probation("s1", "p1", 40), b.held("h1", "c1", 30, no_shows=[("p1", "ga")]))
    assert _no_shows(late) == set()
    inside = evaluate(_probation("s1", "p1", 0), b.held("h1", "c1", 1095, no_shows=[("p1", "ga")]))
    assert _no_shows(inside) == {("ga", "c1")}
    outside = evaluate(_probation("s1", "p1", 0), b.held("h1", "c1", 1096, no_shows=[("p1", "ga")]))
    assert _no_shows(outside) == set()


def test_other_sanctions_do_not_make_a_person_on_probation(evaluate: Evaluate) -> None:
    derived = evaluate(b.sanction("s1", 5, person="p1", kind="sentence_enforcement", source=b.PROBATION),
                       b.sanction("s2", 5, person="p1", group="ga"),
                       b.held("h1", "c1", 30, no_shows=[("p1", "ga")]))
    assert _no_shows(derived) == set()


def test_a_probation_action_naming_a_group_too_counts(evaluate: Evaluate) -> None:
    derived = evaluate(b.sanction("s1", 5, person="p1", group="gb", kind="probation_action",
                                  source=b.PROBATION),
                       b.held("h1", "c1", 30, no_shows=[("p1", "ga")]))
    assert _no_shows(derived) == {("ga", "c1")}  # the group the person was summoned as a member of


def test_the_latest_held_report_of_a_call_in_counts(evaluate: Evaluate) -> None:
    corrected = evaluate(_probation("s1", "p1", 5), b.held("h1", "c1", 30, no_shows=[("p1", "ga")]),
                         b.held("h2", "c1", 31, attended=[("p1", "ga")], no_shows=[]))
    assert _no_shows(corrected) == set()


def test_the_alert_is_withdrawn_when_the_probation_action_is_retracted() -> None:
    ledger = Ledger()
    ledger.apply(b.held("h1", "c1", 30, no_shows=[("p1", "ga")]))
    raised = ledger.apply(_probation("s1", "p1", 5)).alerts.raised
    assert [(a.kind.value, a.group_id, a.incident_id) for a in raised] == [(NO_SHOW, "ga", "c1")]
    update = ledger.apply(b.retraction("x1", "s1", 40, source=b.PROBATION))
    assert [w.alert_id for w in update.alerts.withdrawn] == [raised[0].alert_id]
    assert not ledger.alerts


def test_on_probation_since_gives_the_latest_action_in_the_period() -> None:
    times = [b.at(0), b.at(100), b.at(200)]
    assert on_probation_since(times, b.at(150)) == b.at(100)
    assert on_probation_since(times, b.at(200 + 1095)) == b.at(200)
    assert on_probation_since(times, b.at(200 + 1096)) is None
    assert on_probation_since([], b.at(5)) is None


def _rule_9_example(held_day: float, *extra: CloudEvent) -> tuple[CloudEvent, ...]:
    """The no-show example of docs/rules.md (day 0 is 2024-01-01)."""
    return (_probation("s1", "P", 4),                                                        # 2024-01-05
            b.sanction("s2", 5, person="Q", kind="sentence_enforcement", source=b.PROBATION),  # 2024-01-06
            b.held("h1", "ci-1", held_day, no_shows=[("P", "norra"), ("Q", "norra"), ("R", "sodra")]),
            *extra)


def test_the_worked_example_of_rule_9(evaluate: Evaluate) -> None:
    assert _no_shows(evaluate(*_rule_9_example(30))) == {("norra", "ci-1")}      # 2024-01-31
    assert _no_shows(evaluate(*_rule_9_example(4 + 1096))) == set()              # 2027-01-05
    assert _no_shows(evaluate(*_rule_9_example(4 + 1095))) == {("norra", "ci-1")}  # 2027-01-04
    assert b.at(4 + 1096).date().isoformat() == "2027-01-05"
    retracted = b.retraction("x1", "s1", 40, source=b.PROBATION)
    assert _no_shows(evaluate(*_rule_9_example(30, retracted))) == set()
    corrected = b.held("h2", "ci-1", 32, attended=[("P", "norra")], no_shows=[("Q", "norra")])
    assert _no_shows(evaluate(*_rule_9_example(30, corrected))) == set()
