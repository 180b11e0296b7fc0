"""Alerts: deterministic ids, enforcement/unwarned/retaliation, withdrawal when an alert no longer
holds, and the clock-dependent stalled cases with an injected `now`."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from services.contracts.alerts import Alert, AlertKind, AlertWithdrawal, alert_id
from services.followthrough import Ledger, derive, diff_alerts, stalled_alerts, stalled_cases
from tests.unit.domain import builders as b
from tests.unit.domain.conftest import Evaluate


def _kinds(alerts: dict[str, Alert] | object) -> set[tuple[str, str, str]]:
    assert isinstance(alerts, dict)
    return {(a.kind.value, a.group_id, a.incident_id) for a in alerts.values()}


def test_alert_ids_are_a_digest_of_kind_group_and_incident() -> None:
    expected = hashlib.sha256(b"enforcement_triggered|ga|i1").hexdigest()
    assert alert_id(AlertKind.ENFORCEMENT_TRIGGERED, "ga", "i1") == expected
    first = Alert.of(AlertKind.ENFORCEMENT_TRIGGERED, "ga", "i1")
    assert first.alert_id == expected and first.to_json() == Alert.of(first.kind, "ga", "i1").to_json()


def test_a_case_triggers_enforcement_and_unwarned_violence_is_flagged(evaluate: Evaluate) -> None:
    derived = evaluate(b.warning("w1", "ga", 1), b.incident("r1", "i1", 10, ["ga", "gb"]))
    assert _kinds(dict(derived.alerts)) == {("enforcement_triggered", "ga", "i1"),
                                            ("unwarned_violence", "gb", "i1")}


def test_victims_and_groups_in_conflict_with_them_are_at_risk(evaluate: Evaluate) -> None:
    derived = evaluate(b.incident("r1", "i1", 10, ["ga"], victims=["gb"]), b.relation("rel1", "gc", "gb"),
                       b.relation("rel2", "gb", "gd", kind="alliance"))
    risk = {k for k in _kinds(dict(derived.alerts)) if k[0] == "retaliation_risk"}
    assert risk == {("retaliation_risk", "gb", "i1"), ("retaliation_risk", "gc", "i1")}


def test_a_later_relation_replaces_an_earlier_one(evaluate: Evaluate) -> None:
    derived = evaluate(b.incident("r1", "i1", 10, ["ga"], victims=["gb"]), b.relation("rel1", "gc", "gb", 1),
                       b.relation("rel2", "gb", "gc", 5, kind="alliance"))
    assert {k[1] for k in _kinds(dict(derived.alerts)) if k[0] == "retaliation_risk"} == {"gb"}


def test_an_ended_conflict_no_longer_puts_the_other_group_at_risk(evaluate: Evaluate) -> None:
    conflict = b.relation("rel1", "gc", "gb", 1)
    ended = b.relation_ended("end1", "gb", "gc", 5)
    derived = evaluate(b.incident("r1", "i1", 10, ["ga"], victims=["gb"]), conflict, ended)
    assert {k[1] for k in _kinds(dict(derived.alerts)) if k[0] == "retaliation_risk"} == {"gb"}
    # recorded again after the end, the conflict holds again
    again = evaluate(b.incident("r1", "i1", 10, ["ga"], victims=["gb"]), conflict, ended,
                     b.relation("rel2", "gc", "gb", 8))
    assert {k[1] for k in _kinds(dict(again.alerts)) if k[0] == "retaliation_risk"} == {"gb", "gc"}
    # the end retracted: the conflict it ended holds
    retracted = evaluate(b.incident("r1", "i1", 10, ["ga"], victims=["gb"]), conflict, ended,
                         b.retraction("x1", "end1", 9))
    assert {k[1] for k in _kinds(dict(retracted.alerts)) if k[0] == "retaliation_risk"} == {"gb", "gc"}


def test_unconfirmed_incidents_raise_no_retaliation_risk(evaluate: Evaluate) -> None:
    derived = evaluate(b.incident("r1", "i1", 10, ["ga"], victims=["gb"], confirmed=False))
    assert derived.alerts == {}


def test_re_attribution_withdraws_the_enforcement_alert() -> None:
    ledger = Ledger()
    ledger.apply(b.warning("wa", "ga", 1))
    raised = ledger.apply(b.incident("r1", "i1", 10, ["ga"])).alerts.raised
    assert [(a.kind, a.group_id) for a in raised] == [(AlertKind.ENFORCEMENT_TRIGGERED, "ga")]
    update = ledger.apply(b.attribution("a1", "i1", 20, ["gb"]))
    assert [(w.alert_id, w.withdrawn) for w in update.alerts.withdrawn] == [(raised[0].alert_id, True)]
    assert [(a.kind, a.group_id) for a in update.alerts.raised] == [(AlertKind.UNWARNED_VIOLENCE, "gb")]
    assert ("ga", "i1") in update.case_ids and "ga" in update.group_ids


def test_a_late_warning_turns_unwarned_violence_into_a_case() -> None:
    ledger = Ledger()
    ledger.apply(b.incident("r1", "i1", 10, ["ga"]))
    update = ledger.apply(b.warning("w1", "ga", 5))
    assert [a.kind for a in update.alerts.raised] == [AlertKind.ENFORCEMENT_TRIGGERED]
    assert [w.kind for w in update.alerts.withdrawn] == [AlertKind.UNWARNED_VIOLENCE]


def test_a_repeated_event_changes_nothing() -> None:
    ledger = Ledger()
    events = [b.warning("w1", "ga", 1), b.incident("r1", "i1", 10, ["ga"]), b.sanction("s1", 11, group="ga")]
    ledger.apply_all(events)
    for event in events:
        update = ledger.apply(event)
        assert not update.alerts and update.case_ids == () and update.group_ids == ()


def test_diff_alerts_raises_the_new_and_withdraws_the_gone() -> None:
    before = derive([b.warning("wa", "ga", 1), b.incident("r1", "i1", 10, ["ga"])]).alerts
    after = derive([b.warning("wa", "ga", 1), b.incident("r1", "i1", 10, ["ga"]),
                    b.attribution("a1", "i1", 20, ["gb"])]).alerts
    changes = diff_alerts(before, after)
    assert [a.kind for a in changes.raised] == [AlertKind.UNWARNED_VIOLENCE]
    assert [w.kind for w in changes.withdrawn] == [AlertKind.ENFORCEMENT_TRIGGERED]
    assert not diff_alerts(after, after)


def test_stalled_cases_use_the_injected_clock() -> None:
    state = derive([b.warning("w1", "ga", 1), b.incident("r1", "i1", 10, ["ga"]),
                    b.incident("r2", "i2", 11, ["ga"]), b.sanction("s1", 11, group="ga")]).groups["ga"]
    assert stalled_cases(state, now=b.at(24) - timedelta(seconds=1)) == []
    (stalled,) = stalled_cases(state, now=b.at(24))
    assert (stalled.incident_id, stalled.days_since_incident) == ("i1", 14.0)
    assert [s.incident_id for s in stalled_cases(state, now=b.at(17), stall_days=7)] == ["i1"]
    (alert,) = stalled_alerts(state, now=b.at(30))
    assert alert.alert_id == alert_id(AlertKind.FOLLOW_THROUGH_STALLED, "ga", "i1")
    assert list(stalled_alerts(state, now=b.at(30), stall_days=100)) == []


def test_an_alert_and_its_withdrawal_are_what_validation_makes_of_their_fields() -> None:
    alert = Alert.of(AlertKind.RETALIATION_RISK, "norra", "inc-1")
    assert alert == Alert(alert_id=alert.alert_id, kind=AlertKind.RETALIATION_RISK, group_id="norra",
                          incident_id="inc-1")
    assert Alert.model_validate_json(alert.to_json()) == alert
    withdrawal = AlertWithdrawal.of(alert)
    assert AlertWithdrawal.model_validate_json(withdrawal.to_json()) == withdrawal
    assert withdrawal.withdrawn and withdrawal.alert_id == alert.alert_id
