"""The call-in brief: per invited group, warnings, violations since the previous held call-in (or the
first warning) with the sanctions delivered, other enforcement and support; never a person reference."""

from __future__ import annotations

from services.contracts import CloudEvent
from services.dashboard.readmodel.brief import call_in_brief
from tests.examples import OMIT
from tests.unit.dashboard.pipeline import Pipeline
from tests.unit.domain import builders as b

PEOPLE = ("kvv:k-1029", "pol:p-7f3a91", "mun:s-5521", "kvv:k-2291")


def support(id: str, group: str, day: float, *, accepted: bool, person: str | None) -> CloudEvent:
    kind = "gvi.support.accepted.v1" if accepted else "gvi.support.offered.v1"
    return b.event(kind, id, day, {"group_id": group, "service": "housing",
                                   "person_ref": person if person else OMIT}, source="/agencies/municipality")


def person_warning(id: str, group: str, day: float, person: str) -> CloudEvent:
    return b.event("gvi.warning.delivered.v1", id, day, {"group_id": group, "channel": "custom_notification",
                                                         "person_ref": person, "call_in_id": OMIT},
                   source=b.PROBATION)


def held_with_people(id: str, call_in: str, day: float) -> CloudEvent:
    return b.event("gvi.callin.held.v1", id, day, {
        "call_in_id": call_in, "attended": [{"person_ref": PEOPLE[0], "group_id": "norra"}],
        "no_shows": [{"person_ref": PEOPLE[3], "group_id": "sodra"}]}, source=b.PROBATION)


def scenario_events() -> list[CloudEvent]:
    return [
        b.registered("g1", "norra", "Norra gänget"),
        person_warning("w1", "norra", 1, PEOPLE[0]),
        b.incident("r1", "i1", 5, ["norra"]),                                  # before the first call-in
        b.sanction("s1", 6, group="norra", incident="i1"),
        b.scheduled("c1", "ci-1", 10, ["norra", "sodra"]), held_with_people("h1", "ci-1", 20),
        b.incident("r2", "i2", 30, ["norra"]),                                 # since the first call-in
        b.sanction("s2", 32, person=PEOPLE[1], incident="i2", kind="prosecution",
                   source="/agencies/prosecutor"),
        b.membership("m1", PEOPLE[1], "norra", 0, 300),
        b.sanction("s3", 50, group="norra"),                                   # baseline? no: latest case
        support("o1", "norra", 35, accepted=False, person=PEOPLE[2]),
        support("o2", "norra", 36, accepted=True, person=PEOPLE[2]),
        support("o0", "norra", 0.5, accepted=False, person=None),              # before the warning
        b.scheduled("c2", "ci-2", 60, ["norra", "sodra"]),
    ]


def scenario() -> Pipeline:
    pipe = Pipeline()
    pipe.post(*scenario_events())
    return pipe


def test_the_brief_shows_violations_since_the_previous_held_call_in_with_their_sanctions() -> None:
    brief = call_in_brief(scenario().model, "ci-2")
    assert brief is not None and brief.held_time is None and brief.as_of == b.at(70)
    norra, sodra = brief.groups
    assert (norra.name, norra.period_from, norra.previous_call_in_id, norra.period_start) == (
        "Norra gänget", "previous_call_in", "ci-1", b.at(20))
    assert [(w.channel, w.time) for w in norra.warnings] == [("custom_notification", b.at(1))]
    [violation] = norra.violations
    assert violation.incident_id == "i2" and violation.kind == "shooting"
    assert [(s.kind, s.agency, s.days_after_incident) for s in violation.sanctions] == [
        ("prosecution", "prosecutor", 2.0), ("arrest", "police", 20.0)]
    assert [(s.service, s.offered, s.accepted) for s in norra.support] == [("housing", 1, 1)]
    assert (sodra.status, sodra.violations, sodra.period_from) == (None, (), "previous_call_in")


def test_the_first_brief_counts_from_the_first_warning() -> None:
    brief = call_in_brief(scenario().model, "ci-1")
    assert brief is not None and brief.as_of == b.at(20)
    norra = brief.groups[0]
    assert (norra.period_from, norra.period_start) == ("first_warning", b.at(1))
    assert [v.incident_id for v in norra.violations] == ["i1"]
    assert norra.support == ()   # the only offer before day 20 predates the first warning
    assert brief.groups[1].period_from == "beginning"
    assert call_in_brief(scenario().model, "ci-unknown") is None


def test_no_person_reference_reaches_the_brief() -> None:
    pipe = scenario()
    for call_in in ("ci-1", "ci-2"):
        brief = call_in_brief(pipe.model, call_in)
        assert brief is not None
        text = brief.model_dump_json()
        assert not [p for p in PEOPLE if p in text]
