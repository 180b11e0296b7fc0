"""Order independence (issue 3, "How it must behave"): the state is a function of the *set* of events.

Random scenarios of warnings, incidents, re-attributions, retractions, memberships, exit milestones
(`left_group` ends a membership: rule 4, rule version 2), sanctions, call-ins and relations are fed
in random orders with random copies: `derive` gives the same bytes every time,
and the incremental `Ledger` applied in any order equals `derive`, alerts and updates included.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.contracts import CloudEvent, canonical_json
from services.contracts.alerts import Alert
from services.contracts.group_state import GroupState, UnresolvedSanction
from services.contracts.group_state_records import StateView, states_document
from services.followthrough import FactKey, Ledger, derive, records_for, violence
from tests.unit.domain import builders as b

GROUPS = ["ga", "gb", "gc"]
PEOPLE = ["p1", "p2"]
INCIDENTS = ["i1", "i2", "i3", "i4"]
CALL_INS = ["c1", "c2"]
# Few distinct days, so ties on time are common; far apart enough to cross the 365-day window.
DAYS = st.sampled_from([0, 1, 5, 30, 200, 364, 365, 366, 400, 700, 1095, 1096])
WINDOW = 365
KINDS = (["warning"] * 3 + ["incident"] * 3 + ["attribution"] * 2 + ["sanction"] * 6 + ["membership"] * 2
         + ["scheduled", "held", "held", "relation", "relation ended", "registered", "alert triaged"]
         + ["retraction"] * 2 + ["exit"] * 2)
CONFIRMED = st.sampled_from([True, True, True, False])


@st.composite
def scenarios(draw: st.DrawFn) -> list[CloudEvent]:
    events: list[CloudEvent] = []
    n = draw(st.integers(min_value=1, max_value=40))
    for k in range(n):
        # Ids are drawn from a small pool in a shuffled order so ties on time compare ids both ways.
        eid = f"e{draw(st.integers(0, 99)):02d}-{k}"
        kind = draw(st.sampled_from(KINDS))
        day = draw(DAYS)
        groups = st.lists(st.sampled_from(GROUPS), unique=True, max_size=2)
        if kind == "warning":
            events.append(b.warning(eid, draw(st.sampled_from(GROUPS)), day))
        elif kind == "incident":
            suspects = st.lists(st.sampled_from(GROUPS), unique=True, min_size=1, max_size=2)
            events.append(b.incident(eid, draw(st.sampled_from(INCIDENTS)), day, draw(suspects), draw(groups),
                                     confirmed=draw(CONFIRMED)))
        elif kind == "attribution":
            events.append(b.attribution(eid, draw(st.sampled_from(INCIDENTS)), day, draw(groups),
                                        draw(groups), confirmed=draw(CONFIRMED)))
        elif kind == "sanction":
            who = draw(st.sampled_from(["group", "person", "both"]))
            events.append(b.sanction(
                eid, day, group=draw(st.sampled_from(GROUPS)) if who != "person" else None,
                person=draw(st.sampled_from(PEOPLE)) if who != "group" else None,
                incident=draw(st.none() | st.sampled_from(INCIDENTS)),
                kind=draw(st.sampled_from(["arrest", "arrest", "probation_action"]))))
        elif kind == "membership":
            start = draw(DAYS)
            events.append(b.membership(eid, draw(st.sampled_from(PEOPLE)), draw(st.sampled_from(GROUPS)),
                                       start, start + draw(st.sampled_from([1, 30, 365, 500]))))
        elif kind == "scheduled":
            events.append(b.scheduled(eid, draw(st.sampled_from(CALL_INS)), day,
                                      draw(st.lists(st.sampled_from(GROUPS), unique=True, min_size=1))))
        elif kind == "held":
            summoned = st.tuples(st.sampled_from(PEOPLE), st.sampled_from(GROUPS))
            events.append(b.held(eid, draw(st.sampled_from(CALL_INS)), day,
                                 no_shows=draw(st.lists(summoned, unique=True, max_size=3))))
        elif kind == "relation":
            pair = draw(st.lists(st.sampled_from(GROUPS), unique=True, min_size=2, max_size=2))
            events.append(b.relation(eid, pair[0], pair[1], day, draw(st.sampled_from(["conflict",
                                                                                        "alliance"]))))
        elif kind == "relation ended":
            pair = draw(st.lists(st.sampled_from(GROUPS), unique=True, min_size=2, max_size=2))
            events.append(b.relation_ended(eid, pair[0], pair[1], day))
        elif kind == "alert triaged":  # the coordinators' follow-up: changes no rule, derived or applied
            events.append(b.triaged(eid, draw(st.sampled_from(["a1", "a2"])), "resolved", day, note="done"))
        elif kind == "exit":
            events.append(b.exit_milestone(
                eid, draw(st.sampled_from(PEOPLE)), draw(st.sampled_from(GROUPS)), day,
                draw(st.sampled_from(["left_group", "left_group", "intake"]))))
        elif kind == "registered":
            group = draw(st.sampled_from(GROUPS))
            events.append(b.registered(eid, group, draw(st.sampled_from(["Norra", "Södra"])), day))
        elif events:
            target = draw(st.sampled_from(events))
            same_source = draw(st.integers(0, 4)) > 0
            source = target.source if same_source else (b.POLICE if target.source != b.POLICE
                                                        else b.PROBATION)
            events.append(b.retraction(eid, target.id, day, source=source))
    return events


@st.composite
def deliveries(draw: st.DrawFn, events: list[CloudEvent]) -> list[CloudEvent]:
    """The same set of events in a random order, some delivered more than once (some copies
    re-stamped with a later recordedtime, as a producer retry after a crash would)."""
    copies = list(events)
    for event in draw(st.lists(st.sampled_from(events), max_size=8)) if events else []:
        restamped = draw(st.booleans())
        copies.append(event.model_copy(update={"recordedtime": b.at(900)}) if restamped else event)
    return draw(st.permutations(copies))


_T = TypeVar("_T")


@st.composite
def batches(draw: st.DrawFn, events: list[_T]) -> list[list[_T]]:
    """The events cut into consecutive batches of random sizes (the processor applies what it
    reads a batch at a time: `Ledger.apply_batch`); sometimes one event per batch."""
    if draw(st.booleans()):
        return [[event] for event in events]
    out, at = [], 0
    while at < len(events):
        size = draw(st.integers(min_value=1, max_value=12))
        out.append(events[at:at + size])
        at += size
    return out


def _replay_updates(ledger: Ledger, batched: list[list[CloudEvent]]
                    ) -> tuple[dict[str, Alert], dict[FactKey, UnresolvedSanction]]:
    alerts: dict[str, Alert] = {}
    unresolved: dict[FactKey, UnresolvedSanction] = {}
    for batch in batched:
        update = ledger.apply(batch[0]) if len(batch) == 1 else ledger.apply_batch(batch)
        for alert in update.alerts.raised:
            assert alert.alert_id not in alerts
            alerts[alert.alert_id] = alert
        for withdrawal in update.alerts.withdrawn:
            del alerts[withdrawal.alert_id]
        for key, record in update.unresolved.items():
            if record is None:
                unresolved.pop(key, None)
            else:
                unresolved[key] = record
    return alerts, unresolved


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(data=st.data(), events=scenarios())
def test_derive_depends_on_the_set_of_events_only(data: st.DataObject, events: list[CloudEvent]) -> None:
    derived = derive(events, window_days=WINDOW)
    expected = derived.to_json()
    for _ in range(2):
        assert derive(data.draw(deliveries(events)), window_days=WINDOW).to_json() == expected
    for state in derived.groups.values():  # assembled unvalidated: must survive validation unchanged
        assert GroupState.model_validate_json(state.to_json()).to_json() == state.to_json()


@PROPERTY
@given(data=st.data(), events=scenarios())
def test_ledger_in_any_order_equals_derive(data: st.DataObject, events: list[CloudEvent]) -> None:
    expected = derive(events, window_days=WINDOW)
    delivered = data.draw(batches(data.draw(deliveries(events))))
    ledger = Ledger(window_days=WINDOW)
    alerts, unresolved = _replay_updates(ledger, delivered)
    assert ledger.derived().to_json() == expected.to_json()
    assert alerts == dict(expected.alerts)
    assert unresolved == dict(expected.unresolved)
    assert ledger.violence() == violence(events)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), events=scenarios())
def test_updates_name_every_group_and_case_that_changed(data: st.DataObject,
                                                         events: list[CloudEvent]) -> None:
    ledger = Ledger(window_days=WINDOW)
    before: dict[str, Any] = {}
    for event in data.draw(deliveries(events)):
        violence_before = ledger.violence()
        update = ledger.apply(event)
        violence_after = ledger.violence()
        assert {g for g in violence_before.keys() | violence_after.keys()
                if violence_before.get(g) != violence_after.get(g)} <= set(update.violence_ids)
        after = {g: s.model_dump(mode="json") for g, s in ledger.derived().groups.items()}
        changed = {g for g in before.keys() | after.keys() if before.get(g) != after.get(g)}
        assert changed <= set(update.group_ids)
        for g in changed:
            old = {c["incident_id"]: c for c in before.get(g, {}).get("cases", [])}
            new = {c["incident_id"]: c for c in after.get(g, {}).get("cases", [])}
            moved = {i for i in old.keys() | new.keys() if old.get(i) != new.get(i)}
            assert {(g, i) for i in moved} <= set(update.case_ids)
        before = after


@PROPERTY
@given(data=st.data(), events=scenarios())
def test_the_published_records_assemble_to_the_derived_states(data: st.DataObject,
                                                                events: list[CloudEvent]) -> None:
    """What the processor publishes (only the records each event changed, as a compacted topic
    keeps them) gives every consumer exactly the states `derive` gives: byte for byte."""
    expected = derive(events, window_days=WINDOW)
    ledger = Ledger(window_days=WINDOW)
    topic: dict[bytes, bytes | None] = {}
    for batch in data.draw(batches(data.draw(deliveries(events)))):
        for key, value in records_for(ledger, ledger.apply_batch(batch)):
            topic[key] = value
    view = StateView()
    view.apply_all(data.draw(st.permutations(sorted(topic.items()))))
    assert states_document(view.groups()) == states_document(expected.groups)
    assert view.unresolved() == dict(expected.unresolved)
    live = {json.loads(key)[1] for key, value in topic.items() if value is not None
            and json.loads(key)[0] in ("case", "unwarned", "baseline")}
    assert live <= set(expected.groups), "a record outlived its group"


@PROPERTY
@given(events=scenarios())
def test_every_record_serialises_to_the_canonical_json_of_its_fields(events: list[CloudEvent]) -> None:
    derived = derive(events)
    records: list[Any] = [*derived.groups.values(), *derived.unresolved.values(), *derived.alerts.values()]
    records += [case for state in derived.groups.values() for case in state.cases]
    for record in records:
        assert record.to_json() == canonical_json(record.model_dump(mode="json"))
        assert type(record).model_validate_json(record.to_json()).to_json() == record.to_json()
        # the bytes `json.dumps` makes (canonical_json is orjson's, floats and all)
        assert record.to_json() == json.dumps(json.loads(record.to_json()), sort_keys=True,
                                              separators=(",", ":"), ensure_ascii=False).encode()


@PROPERTY
@given(events=scenarios())
def test_case_and_baseline_records_are_the_canonical_json_of_their_fields_and_group(
        events: list[CloudEvent]) -> None:
    from services.contracts.group_state_records import record_with_group
    for group_id, state in derive(events).groups.items():
        for record in [*state.cases, *state.baseline_links]:
            body = record.model_dump(mode="json")
            assert record_with_group(group_id, record) == canonical_json({**body, "group_id": group_id})
