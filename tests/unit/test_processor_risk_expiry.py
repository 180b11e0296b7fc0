"""Retaliation risks expire on the processor's clock: `risk_days` after the incident, or after the
group's latest violence if later (docs/rules.md, Alerts). The clock is injected (`now`); a restart
repeats what its predecessor published and does not raise an expired risk to withdraw it again."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.contracts import CloudEvent
from services.contracts.alerts import Alert, AlertKind, AlertWithdrawal, alert_id
from services.followthrough import derive, expired_risks, risk_expired
from services.sanctions.processor.core import ProcessorCore
from tests.unit.domain import builders as b
from tests.unit.domain.test_domain_properties import WINDOW, batches, scenarios
from tests.unit.test_processor_core import Topics

RISK_DAYS = 90
NEVER = 10**6  # no stall alerts: these tests are about retaliation risks
KORPEN = alert_id(AlertKind.RETALIATION_RISK, "korpen", "i1")
FALKEN = alert_id(AlertKind.RETALIATION_RISK, "falken", "i1")


def _core() -> ProcessorCore:
    return ProcessorCore(window_days=WINDOW, stall_days=NEVER, risk_days=RISK_DAYS)


def _risks(alerts: tuple[Alert | AlertWithdrawal, ...] | list[Alert | AlertWithdrawal]
           ) -> list[tuple[str, str, bool]]:
    return [(a.group_id, a.incident_id, isinstance(a, AlertWithdrawal)) for a in alerts
            if a.kind is AlertKind.RETALIATION_RISK]


def _raised_risks(topics: Topics) -> set[str]:
    return {i for i, v in topics.raised().items() if b'"retaliation_risk"' in v}


def _shooting(topics: Topics, core: ProcessorCore, now_day: float) -> None:
    """Korpen and Falken in conflict; on day 10 a confirmed shooting wounds Falken (victim)."""
    topics.feed(core, 0, b.relation("rel1", "korpen", "falken", 1), now=b.at(now_day))
    topics.feed(core, 1, b.incident("r1", "i1", 10, ["okand"], ["falken"]), now=b.at(now_day))


def test_the_pure_rule_expires_on_the_day_and_new_violence_renews_it() -> None:
    assert not risk_expired(b.at(10), None, b.at(99), 90)
    assert risk_expired(b.at(10), None, b.at(100), 90), "exactly 90 days: expired"
    assert not risk_expired(b.at(10), b.at(50), b.at(100), 90), "renewed by violence on day 50"
    assert risk_expired(b.at(10), b.at(50), b.at(140), 90)
    assert risk_expired(b.at(10), b.at(5), b.at(100), 90), "violence before the incident renews nothing"


def test_a_risk_is_withdrawn_on_the_clock_once_risk_days_have_passed() -> None:
    core, topics = _core(), Topics()
    _shooting(topics, core, now_day=11)
    assert _raised_risks(topics) == {KORPEN, FALKEN}
    assert _risks(core.tick(b.at(99))) == []
    withdrawn = core.tick(b.at(100))
    assert _risks(withdrawn) == [("falken", "i1", True), ("korpen", "i1", True)]
    assert core.tick(b.at(101)) == [], "withdrawn once"
    assert core.expired_risks() == 2
    # the same bytes as any withdrawal of these alerts (a restart repeating it changes nothing)
    assert {a.to_json() for a in withdrawn} == {AlertWithdrawal.of(Alert.of(
        AlertKind.RETALIATION_RISK, g, "i1")).to_json() for g in ("falken", "korpen")}


def test_the_worked_example_of_rules_md() -> None:
    """docs/rules.md, "Expiry of retaliation risk" (day 0 is 2024-01-01)."""
    core, topics = _core(), Topics()
    topics.feed(core, 0, b.relation("rel1", "korpen", "falken", 0), now=b.at(0))
    topics.feed(core, 1, b.incident("r1", "i1", 9, ["korpen"], ["falken"]), now=b.at(9))  # 2024-01-10
    assert _raised_risks(topics) == {KORPEN, FALKEN}
    topics.feed(core, 2, b.incident("r2", "i2", 49, ["korpen"]), now=b.at(49))  # 2024-02-19
    assert _risks(core.tick(b.at(98.99))) == []
    assert _risks(core.tick(b.at(99))) == [("falken", "i1", True)]  # 2024-04-09
    out = core.accept([("incidents", 0, 3, b.incident("r3", "i3", 89, ["falken"]).to_json())],
                      now=b.at(110))  # 2024-04-20, of 2024-03-30
    assert _risks(out.alerts) == [("falken", "i1", False)]
    assert _risks(core.tick(b.at(139))) == [("korpen", "i1", True)]  # 2024-05-19
    assert _risks(core.tick(b.at(179))) == [("falken", "i1", True)]  # 2024-06-28
    events = [b.relation("rel1", "korpen", "falken", 0), b.incident("r1", "i1", 9, ["korpen"], ["falken"]),
              b.incident("r2", "i2", 49, ["korpen"]), b.incident("r3", "i3", 89, ["falken"])]
    assert {KORPEN, FALKEN} <= set(derive(events).alerts), "derive reads no clock"
    assert expired_risks(events, b.at(366), risk_days=RISK_DAYS) == sorted([KORPEN, FALKEN])
    fresh, later = _core(), Topics()
    for offset, event in enumerate(events):
        later.feed(fresh, offset, event, now=b.at(366))  # read first in 2025
    assert not _raised_risks(later)


def test_an_incident_read_after_its_risk_has_expired_raises_nothing() -> None:
    core, topics = _core(), Topics()
    _shooting(topics, core, now_day=500)
    assert not [a for a in topics.alerts if b'retaliation_risk' in a]
    assert core.tick(b.at(501)) == []


def test_new_violence_involving_the_group_renews_its_risks() -> None:
    core, topics = _core(), Topics()
    _shooting(topics, core, now_day=11)
    # day 60: Korpen is suspected of a confirmed shooting with no victim group: Korpen's risk is
    # renewed to day 150; Falken is not involved, its risk still ends on day 100
    topics.feed(core, 2, b.incident("r2", "i2", 60, ["korpen"]), now=b.at(61))
    assert sorted(_risks(core.tick(b.at(100)))) == [("falken", "i1", True)]
    assert _risks(core.tick(b.at(149))) == []
    assert _risks(core.tick(b.at(150))) == [("korpen", "i1", True)]


def test_violence_learnt_late_raises_an_expired_risk_again_and_its_retraction_withdraws_it() -> None:
    core, topics = _core(), Topics()
    _shooting(topics, core, now_day=11)
    topics.alerts.extend(a.to_json() for a in core.tick(b.at(100)))
    assert not _raised_risks(topics)
    # on day 120 the police report, late, a shooting on day 80 in which Falken was the victim
    out = core.accept([("incidents", 0, 3, b.incident("r3", "i3", 80, ["okand"], ["falken"]).to_json())],
                      now=b.at(120))
    assert ("falken", "i1", False) in _risks(out.alerts), "renewed to day 170"
    assert ("falken", "i3", False) in _risks(out.alerts) and ("korpen", "i3", False) in _risks(out.alerts)
    assert ("korpen", "i1", False) not in _risks(out.alerts), "Korpen was not involved in i3"
    out = core.accept([("incidents", 0, 4, b.retraction("x3", "r3", 121).to_json())], now=b.at(121))
    assert sorted(_risks(out.alerts)) == [("falken", "i1", True), ("falken", "i3", True),
                                          ("korpen", "i3", True)]


def test_the_group_in_conflict_is_renewed_by_its_own_violence_only() -> None:
    core, topics = _core(), Topics()
    _shooting(topics, core, now_day=11)
    # Falken (the victim group) is shot at again on day 50: Falken's risks renew, Korpen's do not
    topics.feed(core, 2, b.incident("r2", "i2", 50, ["okand"], ["falken"]), now=b.at(51))
    assert sorted(_risks(core.tick(b.at(100)))) == [("korpen", "i1", True)]
    assert sorted(_risks(core.tick(b.at(140)))) == [("falken", "i1", True), ("falken", "i2", True),
                                                    ("korpen", "i2", True)]


def test_a_restart_after_expiry_neither_raises_nor_withdraws_an_expired_risk_again() -> None:
    core, topics = _core(), Topics()
    _shooting(topics, core, now_day=11)
    topics.alerts.extend(a.to_json() for a in core.tick(b.at(100)))
    assert not _raised_risks(topics)
    published = len(topics.alerts)
    # killed on day 200 with everything committed: the restarted worker restores and corrects
    core = topics.restart(committed=2, now=b.at(200), stall_days=NEVER, risk_days=RISK_DAYS)
    assert len(topics.alerts) == published, "the correction re-raises no expired risk"
    assert core.tick(b.at(200)) == [], "and its first tick withdraws nothing again"


def test_a_restart_withdraws_a_risk_that_expired_while_no_worker_ran() -> None:
    core, topics = _core(), Topics()
    _shooting(topics, core, now_day=11)
    assert _raised_risks(topics) == {KORPEN, FALKEN}
    core = topics.restart(committed=2, now=b.at(200), stall_days=NEVER, risk_days=RISK_DAYS)
    assert not _raised_risks(topics)
    assert core.tick(b.at(201)) == []


def test_a_restart_that_reads_the_incident_again_does_not_raise_its_expired_risk() -> None:
    core, topics = _core(), Topics()
    _shooting(topics, core, now_day=11)  # published, the incident not committed
    topics.alerts.extend(a.to_json() for a in core.tick(b.at(100)))
    published = len(topics.alerts)
    core = topics.restart(committed=1, now=b.at(200), stall_days=NEVER, risk_days=RISK_DAYS)
    topics.feed(core, 1, b.incident("r1", "i1", 10, ["okand"], ["falken"]), now=b.at(200))
    assert not [a for a in topics.alerts[published:] if b'"retaliation_risk"' in a]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), events=scenarios(), now_day=st.sampled_from([0, 40, 100, 380, 460, 800, 1200]))
def test_a_crash_anywhere_publishes_the_pure_rules_alerts_less_the_expired_risks(
        data: st.DataObject, events: list[CloudEvent], now_day: int) -> None:
    """As `test_a_crash_anywhere_then_any_redelivery_order_gives_the_states_of_the_pure_rules`,
    with a clock past some of the events: what stays raised is `derive`'s alerts less those
    `expired_risks` (the pure rule) finds expired, whatever was published before the crash."""
    now = b.at(now_day)
    processed = data.draw(st.integers(0, len(events)))
    committed = data.draw(st.integers(0, processed))
    topics = Topics()
    core = _core()
    for batch in data.draw(batches(list(enumerate(events[:processed])))):
        topics.feed_batch(core, batch, now)
    if data.draw(st.booleans()):
        topics.alerts.extend(a.to_json() for a in core.tick(now))
    core = topics.restart(committed, now, stall_days=NEVER, risk_days=RISK_DAYS)
    rest = list(enumerate(events))[committed:]
    for batch in data.draw(batches(data.draw(st.permutations(rest)))):
        topics.feed_batch(core, batch, now)

    expected = set(derive(events, window_days=WINDOW).alerts) - set(
        expired_risks(events, now, risk_days=RISK_DAYS))
    assert set(topics.raised()) == expected
    assert core.tick(now) == [], "every batch judged its risks against its clock"
    later = core.tick(now + timedelta(days=RISK_DAYS + 3000))
    assert {a.alert_id for a in later} == _raised_risks(topics)
