"""The processor's core without Kafka: what it writes for each source record, and how a restarted
worker makes the derived topics right again whatever its predecessor had published before it died."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.contracts import CloudEvent
from services.contracts.alerts import AlertKind, alert_id
from services.contracts.group_state_records import StateView, states_document
from services.followthrough import derive
from services.sanctions.processor.core import ProcessorCore
from services.sanctions.processor.metrics import ProcessorMetrics
from tests.unit.domain import builders as b
from tests.unit.domain.test_domain_properties import WINDOW, batches, scenarios

NOW = b.at(0)  # the wall clock, for the stall rule: before every event here, so nothing stalls


@dataclass
class Topics:
    """What the processor has written, as a compacted group-state topic, an alerts log and the
    fact store keep it."""

    group_state: dict[bytes, bytes | None] = field(default_factory=dict)
    alerts: list[bytes] = field(default_factory=list)
    store: list[bytes] = field(default_factory=list)

    def feed(self, core: ProcessorCore, offset: int, event: CloudEvent, now: datetime = NOW) -> None:
        self.feed_batch(core, [(offset, event)], now)

    def feed_batch(self, core: ProcessorCore, batch: list[tuple[int, CloudEvent]],
                   now: datetime = NOW) -> None:
        out = core.accept([("incidents", 0, offset, event.to_json()) for offset, event in batch], now=now)
        self.store.extend(read.store for read in out.reads if read.store is not None)
        self.group_state.update(out.records)
        self.alerts.extend(a.to_json() for a in out.alerts)

    def live(self) -> dict[bytes, bytes]:
        return {k: v for k, v in self.group_state.items() if v is not None}

    def raised(self) -> dict[str, bytes]:
        last: dict[str, bytes] = {}
        for record in self.alerts:
            last[json.loads(record)["alert_id"]] = record
        return {k: v for k, v in last.items() if b'"withdrawn":true' not in v}

    def restart(self, committed: int, now: datetime = NOW, **kw: int) -> ProcessorCore:
        core = ProcessorCore(window_days=WINDOW, **kw)
        core.restore([b"".join(self.store)], {("incidents", 0): committed}, now=now)
        records, alerts = core.reconcile(self.live(), self.raised(), now)
        self.group_state.update(records)
        self.alerts.extend(a.to_json() for a in alerts)
        return core

    def view(self) -> StateView:
        view = StateView()
        view.apply_all(self.group_state.items())
        return view


def test_a_record_that_is_not_an_event_is_skipped_and_reported() -> None:
    core = ProcessorCore()
    warning = b.warning("w1", "norra", 1).to_json()
    out = core.accept([("incidents", 0, 0, b"{not json"), ("incidents", 0, 1, None),
                       ("incidents", 0, 2, b'{"specversion": "1.0"}'), ("notifications", 0, 0, warning)])
    assert [read.rejected for read in out.reads] == ["invalid", "empty", "invalid", None]
    assert out.reads[3].store is not None and out.records, "the batch's good record still counts"


def test_a_repeated_copy_is_not_stored_again_and_publishes_nothing_new() -> None:
    core = ProcessorCore()
    event = b.warning("w1", "norra", 1)
    first = core.accept([("notifications", 0, 5, event.to_json())])
    again = core.accept([("notifications", 0, 5, event.to_json())])
    assert first.reads[0].store is not None and first.records
    assert again.reads[0].store is None and again.alerts == () and again.records == ()


def test_an_id_given_to_two_different_events_is_reported_without_their_content(
        caplog: pytest.LogCaptureFixture) -> None:
    """Two intakes may accept one (source, id) within their ledgers' lag; only the copy recorded
    first counts, and the other must not vanish silently (issue 18, defect 6)."""
    registered = b.registered("x1", "norra-x", "Norra Gaenget", 0)
    reused = b.incident("x1", "INC-77", 5, ["norra-x"])  # the same source (police) and id
    core = ProcessorCore()
    with caplog.at_level(logging.WARNING, logger="services.sanctions.processor.core"):
        first = core.accept([("notifications", 0, 0, registered.to_json())])
        later = core.accept([("incidents", 1, 7, reused.to_json()),
                             ("notifications", 0, 0, registered.to_json())])  # a plain repeat
        together = ProcessorCore().accept([("notifications", 0, 0, registered.to_json()),
                                           ("incidents", 1, 7, reused.to_json())])
    assert [r.conflicting_copy for r in (*first.reads, *later.reads)] == [False, True, False]
    assert [r.conflicting_copy for r in together.reads] == [False, True]
    assert later.reads[0].store is None and core.ledger.fact(("/agencies/police", "x1")) is not None
    assert len(caplog.messages) == 2
    message = caplog.messages[0]
    assert "notifications/0@0" in message and "incidents/1@7" in message
    assert "gvi.group.registered.v1" in message and "gvi.incident.reported.v1" in message
    assert not any(word in message for word in ("norra", "Gaenget", "INC-77", "x1"))
    metrics = ProcessorMetrics()
    for read in later.reads:
        if read.conflicting_copy:
            metrics.conflicting_copy("incidents", read.event_type)
    assert ('gvi_processor_conflicting_copies_total{topic="incidents",type="gvi.incident.reported.v1"} 1.0'
            in metrics.exposition()[0].decode())


def test_within_a_batch_only_the_first_copy_is_stored_and_each_key_is_published_once() -> None:
    core = ProcessorCore()
    warning, incident = b.warning("w1", "norra", 1), b.incident("r1", "i1", 5, ["norra"])
    out = core.accept([("notifications", 0, 5, warning.to_json()), ("notifications", 0, 5, warning.to_json()),
                       ("incidents", 0, 9, incident.to_json())])
    assert [read.store is not None for read in out.reads] == [True, False, True]
    keys = [key for key, _ in out.records]
    assert len(keys) == len(set(keys)) and b'["group","norra"]' in keys and b'["case","norra","i1"]' in keys


def test_a_case_published_before_a_crash_is_withdrawn_when_its_retraction_is_read_first_after_it() -> None:
    topics = Topics()
    core = ProcessorCore(window_days=WINDOW)
    topics.feed(core, 0, b.warning("w1", "norra", 1))
    topics.feed(core, 1, b.incident("r1", "i1", 5, ["norra"]))  # published, not committed
    assert topics.view().group("norra").cases  # type: ignore[union-attr]
    # killed; offsets committed up to 1; after the restart the retraction happens to come first
    core = topics.restart(committed=1)
    topics.feed(core, 2, b.retraction("x1", "r1", 6))
    topics.feed(core, 1, b.incident("r1", "i1", 5, ["norra"]))
    state = topics.view().group("norra")
    assert state is not None and state.cases == ()
    assert alert_id(AlertKind.ENFORCEMENT_TRIGGERED, "norra", "i1") not in topics.raised()


def test_stalled_cases_are_raised_on_the_clock_and_withdrawn_by_the_first_sanction() -> None:
    core = ProcessorCore(stall_days=14)
    topics = Topics()
    topics.feed(core, 0, b.warning("w1", "norra", 1))
    topics.feed(core, 1, b.incident("r1", "i1", 5, ["norra"]))
    assert core.tick(b.at(18)) == []
    (stalled,) = core.tick(b.at(19))
    assert (stalled.kind, stalled.group_id, stalled.incident_id) == (
        AlertKind.FOLLOW_THROUGH_STALLED, "norra", "i1")
    assert core.tick(b.at(20)) == [], "raised once"
    assert core.stalled_cases(b.at(20)) == 1 and core.open_cases() == 1
    out = core.accept([("sanctions", 0, 2, b.sanction("s1", 21, group="norra").to_json())], now=b.at(21))
    assert [(a.alert_id, getattr(a, "withdrawn", False)) for a in out.alerts
            if a.kind is AlertKind.FOLLOW_THROUGH_STALLED] == [(stalled.alert_id, True)]
    assert core.open_cases() == 0 and core.swiftness() == {"0.5": 16.0, "0.9": 16.0}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), events=scenarios())
def test_a_crash_anywhere_then_any_redelivery_order_gives_the_states_of_the_pure_rules(
        data: st.DataObject, events: list[CloudEvent]) -> None:
    """The worker dies after publishing the outputs of `processed` events (read in batches) of which
    only the first `committed` were committed; the restarted worker reads the rest again, in any
    order and batches."""
    processed = data.draw(st.integers(0, len(events)))
    committed = data.draw(st.integers(0, processed))
    topics = Topics()
    core = ProcessorCore(window_days=WINDOW)
    for batch in data.draw(batches(list(enumerate(events[:processed])))):
        topics.feed_batch(core, batch)
    core = topics.restart(committed)
    rest = list(enumerate(events))[committed:]
    for batch in data.draw(batches(data.draw(st.permutations(rest)))):
        topics.feed_batch(core, batch)

    expected = derive(events, window_days=WINDOW)
    view = topics.view()
    assert states_document(view.groups()) == states_document(expected.groups)
    assert view.unresolved() == dict(expected.unresolved)
    assert set(topics.raised()) == set(expected.alerts)
    later = NOW + timedelta(days=3650)
    stalled = {a.group_id for a in core.tick(later) if a.kind is AlertKind.FOLLOW_THROUGH_STALLED}
    assert stalled <= set(expected.groups)


def test_a_fact_stored_before_a_rule_was_made_stricter_still_counts_and_an_unreadable_one_is_skipped(
        caplog: pytest.LogCaptureFixture) -> None:
    """A group registered before issue 22 refused bidirectional overrides in names is still read from
    the fact store (the stricter rule applies to new posts only: skipping it lost the group, and
    every case of its incidents). A stored value that is no event at all is skipped, and the worker
    still loads."""
    from services.followthrough import Fact
    from services.sanctions.processor.core import decode_facts, encode_fact
    from tests.examples import example_event
    from tests.processor_support import stamp

    good = example_event("gvi.group.registered.v1", id="g-ok")
    old = example_event("gvi.group.registered.v1", id="g-old")
    old["data"] = {**old["data"], "name": "Norra\u202e"}
    stored = b""
    values = [json.dumps(stamp(raw, "police")).encode() for raw in (good, old)] + [b'{"id": "cut sh']
    for offset, value in enumerate(values):
        fact = Fact.from_event(CloudEvent.model_validate(stamp(good, "police")), topic="notifications",
                               partition=0, offset=offset)
        stored += encode_fact(fact, value)
    with caplog.at_level(logging.WARNING):
        facts = list(decode_facts(stored))
    assert [f.offset for f in facts] == [0, 1]
    assert "skipped 1 stored fact" in caplog.text
