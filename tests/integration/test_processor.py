"""The stream processor as a process against a real broker: what it publishes equals the pure rules over
the source topics, after late corrections, bad records, aborted transactions and a SIGKILL.

The module has a broker of its own, so that the group states it checks are written by its processor
alone, and one worker (`python -m services.sanctions.processor`) that the tests share, kill and restart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from devtools.scenario import build_scenario
from services.contracts import CloudEvent
from services.contracts.alerts import AlertKind, alert_id
from services.contracts.group_state import CaseStatus
from tests.processor_support import (
    ProcessorProcess,
    alert_records,
    flapping_alerts,
    live_view,
    produce,
    stamp,
    wait_for,
    wait_until_live_equals_replay,
)
from tests.unit.domain import builders as b


@pytest.fixture(scope="module")
def bootstrap(own_kafka_bootstrap: str) -> str:
    return own_kafka_bootstrap


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessorProcess]:
    process = ProcessorProcess(bootstrap, tmp_path_factory.mktemp("processor-state"),
                               env={"GVI_STALL_CHECK_SECONDS": "0.5"})
    process.start()
    yield process
    process.stop()


def raw(*events: CloudEvent) -> list[dict[str, Any]]:
    return [json.loads(event.to_json()) for event in events]


def alerts_for(bootstrap: str, kind: AlertKind, group_id: str, incident_id: str) -> list[dict[str, Any]]:
    wanted = alert_id(kind, group_id, incident_id)
    return [record for record in alert_records(bootstrap) if record["alert_id"] == wanted]


def test_a_warned_group_that_shoots_gets_a_case_and_a_late_re_attribution_moves_it(
        bootstrap: str, worker: ProcessorProcess) -> None:
    produce(bootstrap, raw(
        b.registered("reg-n", "norra", "Norra"), b.warning("w-n", "norra", 1),
        b.incident("r-n1", "inc-n1", 10, ["norra"]),
        b.membership("m-n1", "person-1", "norra", 0, 400), b.sanction("s-n1", 12, person="person-1")))
    wait_until_live_equals_replay(bootstrap)
    state = live_view(bootstrap).group("norra")
    assert state is not None
    assert [(c.incident_id, c.status, c.sanction_ids) for c in state.cases] == [
        ("inc-n1", CaseStatus.SANCTIONED, ("s-n1",))]
    assert alerts_for(bootstrap, AlertKind.ENFORCEMENT_TRIGGERED, "norra", "inc-n1")

    # Weeks later the police re-attribute the shooting to another, unwarned group.
    produce(bootstrap, raw(b.attribution("a-n1", "inc-n1", 40, ["sodra"])))
    wait_until_live_equals_replay(bootstrap)
    view = live_view(bootstrap)
    norra, sodra = view.group("norra"), view.group("sodra")
    assert norra is not None and sodra is not None
    assert norra.cases == () and norra.baseline_sanction_ids == ("s-n1",)
    assert sodra.unwarned_incident_ids == ("inc-n1",)
    enforcement = alerts_for(bootstrap, AlertKind.ENFORCEMENT_TRIGGERED, "norra", "inc-n1")
    assert enforcement[-1].get("withdrawn") is True, "the alert that no longer holds is withdrawn"
    assert alerts_for(bootstrap, AlertKind.UNWARNED_VIOLENCE, "sodra", "inc-n1")


def test_a_retraction_before_its_event_and_repeated_deliveries_change_nothing_twice(
        bootstrap: str, worker: ProcessorProcess) -> None:
    events = raw(b.retraction("x-v1", "r-v1", 21), b.warning("w-v", "vast", 1),
                 b.incident("r-v1", "inc-v1", 20, ["vast"]), b.incident("r-v2", "inc-v2", 22, ["vast"]))
    produce(bootstrap, events + events)
    wait_until_live_equals_replay(bootstrap)
    state = live_view(bootstrap).group("vast")
    assert state is not None and [c.incident_id for c in state.cases] == ["inc-v2"]


def test_records_that_are_not_events_and_aborted_transactions_are_skipped(
        bootstrap: str, worker: ProcessorProcess) -> None:
    rejected_before = worker.metric("gvi_processor_rejected_total")
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send("incidents", key=b"junk", value=b"{not json")
    producer.flush()
    producer.close()
    aborting = KafkaProducer(bootstrap_servers=bootstrap, transactional_id="test-abort", acks="all")
    aborting.init_transactions()
    aborting.begin_transaction()
    (event,) = raw(b.warning("w-ghost", "ghost", 1))
    aborting.send("notifications", key=b"ghost", value=json.dumps(event).encode())
    aborting.flush()
    aborting.abort_transaction()
    aborting.close()
    produce(bootstrap, raw(b.warning("w-after", "after", 1)))

    wait_until_live_equals_replay(bootstrap)
    view = live_view(bootstrap)
    assert view.group("after") is not None
    assert view.group("ghost") is None, "an aborted transaction's event was processed"
    wait_for(lambda: worker.metric("gvi_processor_rejected_total") == rejected_before + 1, 10,
             "the bad record to be counted")


def test_a_case_without_sanction_stalls_and_its_alert_is_withdrawn_by_the_first_sanction(
        bootstrap: str, worker: ProcessorProcess) -> None:
    produce(bootstrap, raw(b.warning("w-s", "stilla", 1), b.incident("r-s1", "inc-s1", 5, ["stilla"])))
    stalled = wait_for(lambda: alerts_for(bootstrap, AlertKind.FOLLOW_THROUGH_STALLED, "stilla", "inc-s1"),
                       30, "the stall alert")
    assert stalled[0].get("withdrawn") is None
    assert worker.metric("gvi_processor_stalled_cases") >= 1

    produce(bootstrap, raw(b.sanction("s-s1", 30, group="stilla")))
    records = wait_for(
        lambda: [r for r in alerts_for(bootstrap, AlertKind.FOLLOW_THROUGH_STALLED, "stilla", "inc-s1")
                 if r.get("withdrawn")], 30, "the stall alert's withdrawal")
    assert records[0]["group_id"] == "stilla"


def test_a_clean_restart_rebuilds_from_the_fact_store_and_carries_on(
        bootstrap: str, worker: ProcessorProcess, tmp_path: Path) -> None:
    produce(bootstrap, raw(b.warning("w-r", "restart", 1), b.incident("r-r1", "inc-r1", 3, ["restart"])))
    wait_until_live_equals_replay(bootstrap)
    worker.stop()
    worker.start()
    produce(bootstrap, raw(b.sanction("s-r1", 4, group="restart", incident="inc-r1")))
    wait_until_live_equals_replay(bootstrap)
    state = live_view(bootstrap).group("restart")
    assert state is not None and state.cases[0].sanction_ids == ("s-r1",)


def test_sigkill_in_the_middle_of_ten_thousand_events_loses_nothing_and_duplicates_no_alert(
        bootstrap: str, worker: ProcessorProcess) -> None:
    scenario = [stamp(e.event, e.agency) for seed in (101, 102, 103, 104) for e in build_scenario(seed)]
    assert len(scenario) >= 10_000
    before = worker.metric("gvi_processor_events_total")
    produce(bootstrap, scenario)
    wait_for(lambda: worker.metric("gvi_processor_events_total") >= before + 2_500, 120,
             "the worker to be well into the events")
    worker.kill()
    worker.start()
    wait_until_live_equals_replay(bootstrap, timeout=240)
    flapping = flapping_alerts(bootstrap)
    assert not flapping, (f"{len(flapping)} alerts were withdrawn by the take-over correction and raised "
                          f"again as they were, e.g. {flapping[:3]}")

    contents: dict[str, set[bytes]] = {}
    for record in alert_records(bootstrap):
        key = record["alert_id"] + ("/withdrawn" if record.get("withdrawn") else "")
        contents.setdefault(key, set()).add(json.dumps(record, sort_keys=True).encode())
    assert all(len(versions) == 1 for versions in contents.values()), \
        "an alert id was emitted twice with different content"
