"""Rules 4-6: a sanction to its groups (memberships), to a case (explicit incident, latest case within
the window, baseline), case status with presentation, swiftness; and the unresolved queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.contracts.group_state import CaseStatus, LinkRule, ResolvedBy
from services.followthrough import days_between
from tests.unit.domain import builders as b
from tests.unit.domain.conftest import Evaluate

WARNED_CASE = (b.warning("w1", "ga", 1), b.incident("r1", "i1", 10, ["ga"]))


def test_a_sanction_naming_the_group_links_to_its_latest_case(evaluate: Evaluate) -> None:
    (case,) = evaluate(*WARNED_CASE, b.sanction("s1", 13, group="ga")).groups["ga"].cases
    assert case.sanction_ids == ("s1",)
    assert case.status is CaseStatus.SANCTIONED
    (link,) = case.links
    assert (link.rule, link.resolved_by, link.membership_ids) == (
        LinkRule.LATEST_CASE_WITHIN_WINDOW, ResolvedBy.NAMED_GROUP, ())


def test_a_sanction_before_every_case_is_baseline(evaluate: Evaluate) -> None:
    state = evaluate(*WARNED_CASE, b.sanction("s0", 9, group="ga")).groups["ga"]
    assert state.baseline_sanction_ids == ("s0",) and state.cases[0].sanction_ids == ()
    assert state.baseline_links[0].rule is LinkRule.BASELINE


def test_the_latest_case_at_or_before_the_sanction_wins_ties_by_incident_id(evaluate: Evaluate) -> None:
    derived = evaluate(b.warning("w1", "ga", 1), b.incident("r1", "i-a", 10, ["ga"]),
                       b.incident("r2", "i-b", 10, ["ga"]), b.incident("r3", "i-c", 20, ["ga"]),
                       b.sanction("s1", 15, group="ga"), b.sanction("s2", 20, group="ga"))
    cases = {c.incident_id: c.sanction_ids for c in derived.groups["ga"].cases}
    assert cases == {"i-a": (), "i-b": ("s1",), "i-c": ("s2",)}


@pytest.mark.parametrize(("days_after", "linked"), [(364, True), (365, True), (366, False)])
def test_the_365_day_window(evaluate: Evaluate, days_after: int, linked: bool) -> None:
    state = evaluate(*WARNED_CASE, b.sanction("s1", 10 + days_after, group="ga")).groups["ga"]
    assert state.cases[0].sanction_ids == (("s1",) if linked else ())
    assert state.baseline_sanction_ids == (() if linked else ("s1",))


def test_the_window_is_configurable(evaluate: Evaluate) -> None:
    events = (*WARNED_CASE, b.sanction("s1", 40, group="ga"), b.sanction("s2", 41, group="ga"))
    state = evaluate(*events, window_days=30).groups["ga"]
    assert state.cases[0].sanction_ids == ("s1",) and state.baseline_sanction_ids == ("s2",)


def test_an_explicit_incident_links_even_when_a_later_case_exists(evaluate: Evaluate) -> None:
    derived = evaluate(*WARNED_CASE, b.incident("r2", "i2", 20, ["ga"]),
                       b.sanction("s1", 30, group="ga", incident="i1"), b.sanction("s2", 30, group="ga"))
    cases = {c.incident_id: c for c in derived.groups["ga"].cases}
    assert cases["i1"].sanction_ids == ("s1",) and cases["i2"].sanction_ids == ("s2",)
    assert cases["i1"].links[0].rule is LinkRule.EXPLICIT_INCIDENT


def test_an_explicit_incident_links_beyond_the_window(evaluate: Evaluate) -> None:
    (case,) = evaluate(*WARNED_CASE, b.sanction("s1", 800, group="ga", incident="i1")).groups["ga"].cases
    assert case.sanction_ids == ("s1",)


def test_an_incident_that_is_not_a_case_of_the_group_falls_back_to_the_window(evaluate: Evaluate) -> None:
    derived = evaluate(*WARNED_CASE, b.incident("r9", "i-other", 12, ["gb"]),
                       b.sanction("s1", 15, group="ga", incident="i-other"),
                       b.sanction("s2", 15, group="ga", incident="i-unknown"))
    (case,) = derived.groups["ga"].cases
    assert case.sanction_ids == ("s1", "s2")
    assert {link.rule for link in case.links} == {LinkRule.LATEST_CASE_WITHIN_WINDOW}


def test_a_person_resolves_through_memberships_valid_at_the_sanction(evaluate: Evaluate) -> None:
    derived = evaluate(*WARNED_CASE, b.membership("m1", "p1", "ga", 0, 100),
                       b.sanction("s1", 13, person="p1"))
    (link,) = derived.groups["ga"].cases[0].links
    assert (link.resolved_by, link.membership_ids) == (ResolvedBy.MEMBERSHIP, ("m1",))
    assert derived.unresolved == {}


@pytest.mark.parametrize(("sanction_day", "resolved"), [(20, True), (19.999, False), (30, False),
                                                          (29.999, True)])
def test_valid_from_is_inclusive_and_valid_until_exclusive(evaluate: Evaluate, sanction_day: float,
                                                           resolved: bool) -> None:
    derived = evaluate(*WARNED_CASE, b.membership("m1", "p1", "ga", 20, 30),
                       b.sanction("s1", sanction_day, person="p1"))
    assert ("s1" in derived.groups["ga"].cases[0].sanction_ids) is resolved
    assert ((b.POLICE, "s1") in derived.unresolved) is not resolved


def test_a_person_in_two_groups_resolves_to_both(evaluate: Evaluate) -> None:
    derived = evaluate(*WARNED_CASE, b.membership("m1", "p1", "ga", 0, 100),
                       b.membership("m2", "p1", "gb", 0, 100), b.sanction("s1", 13, person="p1"))
    assert derived.groups["ga"].cases[0].sanction_ids == ("s1",)
    assert derived.groups["gb"].baseline_sanction_ids == ("s1",)
    assert derived.groups["gb"].baseline_links[0].membership_ids == ("m2",)


def test_a_named_group_is_not_widened_by_the_person_s_other_memberships(evaluate: Evaluate) -> None:
    derived = evaluate(*WARNED_CASE, b.membership("m2", "p1", "gb", 0, 100),
                       b.sanction("s1", 13, group="ga", person="p1"))
    assert derived.groups["ga"].cases[0].sanction_ids == ("s1",)
    assert "gb" not in derived.groups


def test_an_unresolved_sanction_is_kept_without_the_person(evaluate: Evaluate) -> None:
    derived = evaluate(b.sanction("s1", 13, person="p1", incident="i1", kind="arrest"))
    record = derived.unresolved[(b.POLICE, "s1")]
    assert (record.sanction_id, record.incident_id, record.kind) == ("s1", "i1", "arrest")
    assert record.time == b.at(13)
    assert b"p1" not in record.to_json()


def test_a_retracted_membership_unresolves_the_sanction(evaluate: Evaluate) -> None:
    derived = evaluate(*WARNED_CASE, b.membership("m1", "p1", "ga", 0, 100),
                       b.sanction("s1", 13, person="p1"), b.retraction("x1", "m1", 50))
    assert derived.groups["ga"].cases[0].sanction_ids == () and (b.POLICE, "s1") in derived.unresolved


def test_a_retracted_sanction_unlinks(evaluate: Evaluate) -> None:
    derived = evaluate(b.retraction("x1", "s1", 5), *WARNED_CASE, b.sanction("s1", 13, group="ga"))
    assert derived.groups["ga"].cases[0].status is CaseStatus.AWAITING_SANCTION


def test_re_attribution_relinks_the_sanctions(evaluate: Evaluate) -> None:
    derived = evaluate(*WARNED_CASE, b.incident("r2", "i2", 12, ["ga"]), b.sanction("s1", 13, group="ga"),
                       b.attribution("a1", "i2", 40, ["gb"]))
    assert derived.groups["ga"].cases[0].sanction_ids == ("s1",)


def test_swiftness_is_fractional_days_rounded_half_up(evaluate: Evaluate) -> None:
    (case,) = evaluate(*WARNED_CASE, b.sanction("s1", 11.25, group="ga"),
                       b.sanction("s2", 30, group="ga")).groups["ga"].cases
    assert (case.first_sanction_time, case.days_to_first_sanction) == (b.at(11.25), 1.25)
    assert days_between(b.at(0), b.at(1 / 3)) == 0.33
    assert days_between(b.at(0), b.at(0.125)) == 0.13
    assert days_between(b.at(0), b.at(2)) == 2.0


def _days_by_decimal(micro: int) -> float:
    """The definition `days_between` keeps: exact decimals, quantized half-up to hundredths."""
    return float((Decimal(micro) / Decimal(86_400_000_000)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@given(st.one_of(st.integers(-10**15, 10**15),  # about 30 years either way, in microseconds
                 st.integers(-10**6, 10**6).map(lambda k: k * 864_000_000 + 432_000_000),  # ties
                 st.integers(-10**6, 10**6).map(lambda k: k * 864_000_000)))  # whole hundredths
def test_days_between_is_the_decimal_rounding_of_whole_microseconds(micro: int) -> None:
    start = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(days=20_000)
    assert days_between(start, start + timedelta(microseconds=micro)) == _days_by_decimal(micro)


def test_a_case_is_presented_by_a_call_in_held_after_its_first_sanction(evaluate: Evaluate) -> None:
    derived = evaluate(*WARNED_CASE, b.sanction("s1", 13, group="ga"),
                       b.scheduled("c1", "ci-1", 2, ["ga", "gb"]), b.held("h0", "ci-1", 12),
                       b.held("h1", "ci-1", 20), b.held("h2", "ci-1", 30))
    (case,) = derived.groups["ga"].cases
    assert case.status is CaseStatus.PRESENTED
    shown = case.provenance.presented_by
    assert shown is not None
    assert (shown.held_id, shown.scheduled_id, shown.call_in_id) == ("h1", "c1", "ci-1")


@pytest.mark.parametrize("held_day", [12, 13])
def test_a_call_in_held_before_or_at_the_first_sanction_does_not_present(evaluate: Evaluate,
                                                                        held_day: int) -> None:
    derived = evaluate(*WARNED_CASE, b.sanction("s1", 13, group="ga"),
                       b.scheduled("c1", "ci-1", 2, ["ga"]), b.held("h1", "ci-1", held_day))
    assert derived.groups["ga"].cases[0].status is CaseStatus.SANCTIONED


def test_only_a_call_in_that_invited_the_group_presents(evaluate: Evaluate) -> None:
    base = (*WARNED_CASE, b.sanction("s1", 13, group="ga"), b.held("h1", "ci-1", 20))
    assert evaluate(*base, b.scheduled("c1", "ci-1", 2, ["gb"])).groups["ga"].status == "sanctioned"
    assert evaluate(*base).groups["ga"].status == "sanctioned"
    retracted = evaluate(*base, b.scheduled("c1", "ci-1", 2, ["ga"]),
                         b.retraction("x1", "c1", 3, source=b.PROBATION))
    assert retracted.groups["ga"].status == "sanctioned"
    rescheduled = evaluate(*base, b.scheduled("c1", "ci-1", 2, ["ga"]), b.scheduled("c2", "ci-1", 4, ["gb"]))
    assert rescheduled.groups["ga"].status == "sanctioned"


def test_the_state_is_canonical_json_with_utc_times(evaluate: Evaluate) -> None:
    state = evaluate(*WARNED_CASE, b.sanction("s1", 13, group="ga")).groups["ga"]
    raw = state.to_json()
    assert b" " not in raw.replace(b'"home_visit"', b"")
    parsed = json.loads(raw)
    assert list(parsed) == sorted(parsed)
    assert parsed["warned_since"] == "2024-01-02T00:00:00Z"
    assert parsed["cases"][0]["incident_time"] == "2024-01-11T00:00:00Z"
    assert parsed["rule_version"] == 2
    assert parsed["cases"][0]["provenance"] == {"report_id": "r1", "attribution_id": None,
                                                "warning_id": "w1", "presented_by": None}
