"""Rule 4, rule version 2 (issue 21): a `left_group` exit milestone (`gvi.exit.milestone.v2`) ends
the person's membership of that group for sanction linking, from its time on. The leaving example of
docs/rules.md, run by every evaluation strategy (`evaluate`: derive, the ledger in both orders, the
published records)."""

from __future__ import annotations

from services.contracts.group_state import RULE_VERSION, LinkRule
from services.followthrough import Fact, left_group_of, membership_counts_at
from tests.unit.domain import builders as b
from tests.unit.domain.conftest import Evaluate

LEAVING = (
    b.membership("m1", "P", "norra", 0, 366),                       # 2024-01-01 .. 2025-01-01
    b.sanction("s1", 60, person="P"),                               # 2024-03-01
    b.exit_milestone("x1", "P", "norra", 152),                      # 2024-06-01: left the group
    b.sanction("s2", 152, person="P", kind="search"),               # the same minute
    b.sanction("s3", 244, person="P"),                              # 2024-09-01
    b.membership("m2", "P", "norra", 274, 639),                     # 2024-10-01 .. 2025-10-01
    b.sanction("s4", 305, person="P"),                              # 2024-11-01
)


def _unresolved(derived: object) -> set[str]:
    return {u.sanction_id for u in derived.unresolved.values()}  # type: ignore[attr-defined]


def test_the_leaving_example(evaluate: Evaluate) -> None:
    derived = evaluate(*LEAVING)
    norra = derived.groups["norra"]
    assert norra.baseline_sanction_ids == ("s1", "s4")
    assert _unresolved(derived) == {"s2", "s3"}
    assert norra.rule_version == RULE_VERSION == 2


def test_a_left_area_milestone_a_v1_one_or_a_retracted_one_ends_nothing(evaluate: Evaluate) -> None:
    v1 = b.event("gvi.exit.milestone.v1", "x1", 152, {"group_id": "norra", "person_ref": "P",
                                                      "service": "left the group"}, source=b.MUNICIPALITY)
    for events in (
            [e if e.id != "x1" else b.exit_milestone("x1", "P", "norra", 152, "left_area") for e in LEAVING],
            [e if e.id != "x1" else v1 for e in LEAVING],
            [*LEAVING, b.retraction("r1", "x1", 160, source=b.MUNICIPALITY)]):
        derived = evaluate(*events)
        assert derived.groups["norra"].baseline_sanction_ids == ("s1", "s2", "s3", "s4")
        assert _unresolved(derived) == set()


def test_leaving_another_group_does_not_end_this_one(evaluate: Evaluate) -> None:
    events = [e if e.id != "x1" else b.exit_milestone("x1", "P", "sodra", 152) for e in LEAVING]
    assert evaluate(*events).groups["norra"].baseline_sanction_ids == ("s1", "s2", "s3", "s4")


def test_only_the_sanctions_before_leaving_or_after_rejoining_link_to_a_case(evaluate: Evaluate) -> None:
    incident = (b.warning("w1", "norra", 1), b.incident("i1", "inc", 150, ["norra"]))
    derived = evaluate(*incident, *LEAVING)
    (case,) = derived.groups["norra"].cases
    assert [(link.sanction_id, link.rule) for link in case.links] == [
        ("s4", LinkRule.LATEST_CASE_WITHIN_WINDOW)]


def test_the_shared_rule_function() -> None:
    membership = b.membership("m1", "P", "norra", 0, 366).data
    exit_fact = Fact.from_event(b.exit_milestone("x1", "P", "norra", 152))
    assert left_group_of(exit_fact) == ("P", "norra")
    assert left_group_of(Fact.from_event(b.exit_milestone("x2", "P", "norra", 152, "left_area"))) is None
    assert membership_counts_at(membership, b.at(151), [b.at(152)])  # type: ignore[arg-type]
    assert not membership_counts_at(membership, b.at(152), [b.at(152)])  # type: ignore[arg-type]
    assert membership_counts_at(membership, b.at(152), [])  # type: ignore[arg-type]
