"""The group audit's pure views: memberships by group, those expiring within 30 Swedish calendar days
(around Stockholm midnight and a change to summer time), relations between groups, and the sanctions
that matched no group, as the read model keeps them from the records the dashboard consumes."""

from __future__ import annotations

from datetime import UTC, datetime

from services.contracts import CloudEvent
from services.dashboard.readmodel.group_audit import (
    current_memberships,
    current_relations,
    expiring_memberships,
    expiry_horizon,
    group_counts,
    unmatched_sanctions,
)
from services.followthrough import Fact
from tests.unit.dashboard.pipeline import Pipeline
from tests.unit.domain import builders as b


def assessed(id: str, person: str, group: str, valid_from: datetime, valid_until: datetime,
             grade: str = "B") -> Fact:
    event = b.event("gvi.membership.assessed.v1", id, 0, {
        "person_ref": person, "group_id": group, "valid_from": valid_from.isoformat(),
        "valid_until": valid_until.isoformat(), "source_grade": grade, "evidence": f"evidence {id}"})
    return Fact.from_event(event)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


# 2024-03-01 23:30 UTC is 2024-03-02 00:30 in Stockholm (CET): "today" is 2 March, and the window
# runs to the end of 1 April (summer time from 31 March): midnight 2 April CEST is 2024-04-01 22:00 UTC.
NOW = utc(2024, 3, 1, 23, 30)
START = utc(2024, 1, 1)


def test_the_window_ends_at_the_stockholm_midnight_after_the_thirtieth_day() -> None:
    assert expiry_horizon(NOW) == utc(2024, 4, 1, 22, 0)
    assert expiry_horizon(utc(2024, 3, 1, 22, 59)) == utc(2024, 3, 31, 22, 0)   # still 1 March there


def test_expiring_within_30_days_counts_stockholm_dates_not_utc_ones() -> None:
    facts = [
        assessed("m-last-day", "p1", "norra", START, utc(2024, 4, 1, 22, 0)),     # ends 2 Apr 00:00
        assessed("m-day-after", "p2", "norra", START, utc(2024, 4, 1, 22, 1)),    # holds into 2 Apr
        assessed("m-tonight", "p3", "sodra", START, utc(2024, 3, 1, 23, 45)),
        assessed("m-gone", "p4", "sodra", START, utc(2024, 3, 1, 23, 30)),         # expired at NOW
    ]
    assert [r.event_id for r in expiring_memberships(facts, NOW)] == ["m-tonight", "m-last-day"]
    # a minute before Stockholm midnight it is still 1 March there: the window ends a day earlier
    assert [r.event_id for r in expiring_memberships(facts, utc(2024, 3, 1, 22, 59))] == [
        "m-gone", "m-tonight"]


def test_a_renewed_assessment_is_not_expiring_and_expired_ones_are_not_listed() -> None:
    facts = [
        assessed("m1", "p1", "norra", START, utc(2024, 3, 10)),
        assessed("m2", "p1", "norra", utc(2024, 3, 10), utc(2025, 3, 10), grade="A"),   # renews m1
        assessed("m3", "p1", "sodra", START, utc(2024, 3, 10)),                         # other group
        assessed("m4", "p2", "norra", START, utc(2024, 2, 1)),                          # expired
    ]
    assert [(r.event_id, r.group_id) for r in expiring_memberships(facts, NOW)] == [("m3", "sodra")]
    current = current_memberships(facts, NOW)
    assert {g: [r.event_id for r in rows] for g, rows in current.items()} == {
        "norra": ["m1", "m2"], "sodra": ["m3"]}
    assert current["norra"][1].source_grade == "A" and current["norra"][1].evidence == "evidence m2"
    assert [(c.group_id, c.current, c.expiring) for c in group_counts(facts, NOW)] == [
        ("norra", 1, 0), ("sodra", 1, 1)]


def test_the_latest_relation_of_a_pair_holds_whichever_group_recorded_it() -> None:
    facts = [Fact.from_event(e) for e in (
        b.relation("r1", "norra", "sodra", 1, "conflict"),
        b.relation("r2", "sodra", "norra", 5, "alliance"),
        b.relation("r3", "vastra", "norra", 2, "conflict"),
    )]
    assert [(r.group_id, r.other_group_id, r.relation, r.since, r.event_id)
            for r in current_relations(facts)] == [
        ("norra", "sodra", "alliance", b.at(5), "r2"), ("norra", "vastra", "conflict", b.at(2), "r3")]


def test_an_ended_relation_is_no_longer_listed_until_one_is_recorded_again() -> None:
    pipe = _fed(b.relation("r1", "norra", "sodra", 1), b.relation("r2", "vastra", "norra", 2),
                b.relation_ended("e1", "sodra", "norra", 4))
    assert [(r.other_group_id, r.event_id) for r in current_relations(pipe.model.sources.relations())] == [
        ("vastra", "r2")]
    pipe.post(b.relation("r3", "norra", "sodra", 6, "alliance"))
    assert [(r.other_group_id, r.relation, r.event_id)
            for r in current_relations(pipe.model.sources.relations())] == [
        ("sodra", "alliance", "r3"), ("vastra", "conflict", "r2")]
    pipe.post(b.retraction("x1", "r3"))  # the end holds again
    assert [r.event_id for r in current_relations(pipe.model.sources.relations())] == ["r2"]


def _fed(*events: CloudEvent) -> Pipeline:
    pipe = Pipeline()
    pipe.post(*events)
    return pipe


def test_a_sanction_against_a_person_without_a_valid_membership_matches_no_group() -> None:
    pipe = _fed(b.registered("g1", "norra", "Norra gänget"),
                b.membership("m1", "pol:p-1", "norra", 0, 10),
                b.sanction("s1", 5, person="pol:p-1"),                       # matched through m1
                b.sanction("s2", 20, person="pol:p-1", incident="i9"),       # m1 expired on day 10
                b.sanction("s3", 21, person="pol:p-2", kind="prosecution", source="/agencies/prosecutor"))
    rows = unmatched_sanctions(pipe.model.unresolved_sanctions())
    assert [(r.sanction_id, r.agency, r.kind, r.incident_id, r.reason) for r in rows] == [
        ("s3", "prosecutor", "prosecution", None, "no_membership_valid_at_sanction_time"),
        ("s2", "police", "arrest", "i9", "no_membership_valid_at_sanction_time")]
    assert rows[0].time == b.at(21)
    assert not [r for r in rows if "pol:p-" in repr(r)]                      # no person reference

    pipe.post(b.membership("m2", "pol:p-2", "norra", 15, 40))               # a late assessment resolves s3
    assert [r.sanction_id for r in unmatched_sanctions(pipe.model.unresolved_sanctions())] == ["s2"]


def test_the_read_model_keeps_memberships_and_relations_with_retractions_applied() -> None:
    pipe = _fed(b.membership("m1", "pol:p-1", "norra", 0, 100),
                b.membership("m2", "pol:p-2", "norra", 0, 100),
                b.relation("r1", "norra", "sodra", 1), b.relation("r2", "norra", "sodra", 3, "alliance"),
                b.retraction("x1", "m2"), b.retraction("x2", "r2"))
    assert [f.id for f in pipe.model.sources.memberships()] == ["m1"]
    assert [(r.relation, r.event_id) for r in current_relations(pipe.model.sources.relations())] == [
        ("conflict", "r1")]
