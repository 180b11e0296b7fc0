"""The worked example of docs/rules.md, so the page and the code cannot drift apart."""

from __future__ import annotations

from services.contracts.alerts import AlertKind
from services.contracts.group_state import CaseStatus, GroupStatus, LinkRule
from tests.unit.domain import builders as b
from tests.unit.domain.conftest import Evaluate

EXAMPLE = (
    b.warning("w1", "norra", 1),                                   # 2024-01-02
    b.incident("r1", "i1", 9, ["sodra"]),                          # 2024-01-10
    b.incident("r2", "i2", 10, ["norra"]),                         # 2024-01-11
    b.membership("m1", "P", "norra", 0, 366),                      # 2024-01-01 .. 2025-01-01
    b.sanction("s1", 11, person="P"),                              # 2024-01-12
    b.sanction("s2", 31, group="norra", incident="i2", kind="prosecution"),  # 2024-02-01
    b.scheduled("c1", "ci", 40, ["norra"]),
    b.held("h1", "ci", 60),                                        # 2024-03-01
)


def test_before_the_re_attribution(evaluate: Evaluate) -> None:
    derived = evaluate(*EXAMPLE)
    norra, sodra = derived.groups["norra"], derived.groups["sodra"]
    (case,) = norra.cases
    assert (case.incident_id, case.warning_id, case.status, case.days_to_first_sanction) == (
        "i2", "w1", CaseStatus.PRESENTED, 1.0)
    assert [(link.sanction_id, link.rule, link.membership_ids) for link in case.links] == [
        ("s1", LinkRule.LATEST_CASE_WITHIN_WINDOW, ("m1",)), ("s2", LinkRule.EXPLICIT_INCIDENT, ())]
    assert norra.status is GroupStatus.PRESENTED
    assert (sodra.status, sodra.unwarned_incident_ids) == (GroupStatus.UNWARNED, ("i1",))


def test_after_the_re_attribution(evaluate: Evaluate) -> None:
    derived = evaluate(*EXAMPLE, b.attribution("a1", "i2", 91, ["sodra"]))  # 2024-04-01
    norra, sodra = derived.groups["norra"], derived.groups["sodra"]
    assert (norra.status, norra.cases, norra.baseline_sanction_ids) == (GroupStatus.WARNED, (), ("s1", "s2"))
    assert sodra.unwarned_incident_ids == ("i1", "i2")
    assert {(a.kind, a.group_id, a.incident_id) for a in derived.alerts.values()} == {
        (AlertKind.UNWARNED_VIOLENCE, "sodra", "i1"), (AlertKind.UNWARNED_VIOLENCE, "sodra", "i2")}
