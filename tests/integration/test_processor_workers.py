"""Two processor workers against a real broker with three partitions: they divide the publishing of
`group-state`, and when one stops the other takes its partitions over, with no event lost: the
published group states equal the pure rules over the source topics, and the alerts raised are the
alerts the rules hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.scenario import build_scenario
from services.contracts.alerts import AlertKind, alert_id
from services.contracts.group_state import CaseStatus
from tests.processor_support import (
    ProcessorProcess,
    alert_records,
    alerts_held_now,
    produce,
    stamp,
    wait_for,
    wait_until_live_equals_replay,
)

PUBLISHING = "gvi_processor_publishing_partitions"


@pytest.fixture(scope="module")
def bootstrap(own_kafka_bootstrap: str) -> str:
    return own_kafka_bootstrap


def raised_alert_ids(bootstrap: str) -> set[str]:
    last: dict[str, bool] = {}
    for record in alert_records(bootstrap):
        last[record["alert_id"]] = not record.get("withdrawn", False)
    return {alert_id for alert_id, raised in last.items() if raised}


def test_two_workers_share_the_partitions_and_one_takes_over_those_of_the_other_when_it_stops(
        bootstrap: str, tmp_path: Path) -> None:
    env = {"GVI_PROCESSOR_CLUSTER": "two-workers", "GVI_STALL_CHECK_SECONDS": "0.5"}
    first = ProcessorProcess(bootstrap, tmp_path / "first", app_id="worker-first", env=env).start()
    second = ProcessorProcess(bootstrap, tmp_path / "second", app_id="worker-second", env=env).start()
    try:
        wait_for(lambda: first.metric(PUBLISHING) >= 1 and second.metric(PUBLISHING) >= 1
                 and first.metric(PUBLISHING) + second.metric(PUBLISHING) == 3, 60,
                 "the two workers to share the three group-state partitions")
        scenario = [stamp(e.event, e.agency) for seed in (201, 202) for e in build_scenario(seed)]
        third = len(scenario) // 3
        produce(bootstrap, scenario[:third], among=scenario)
        wait_until_live_equals_replay(bootstrap, timeout=180)

        # still being processed when the first worker stops
        produce(bootstrap, scenario[third:2 * third], among=scenario)
        first.stop()
        wait_for(lambda: second.metric(PUBLISHING) == 3, 60, "the second worker to publish every partition")
        produce(bootstrap, scenario[2 * third:], among=scenario)
        expected = wait_until_live_equals_replay(bootstrap, timeout=240)
        # the scenario's years are long past: every case still awaiting a sanction has stalled
        stalled = {alert_id(AlertKind.FOLLOW_THROUGH_STALLED, group_id, case.incident_id)
                   for group_id, state in expected.groups.items() for case in state.cases
                   if case.status is CaseStatus.AWAITING_SANCTION}
        wanted = alerts_held_now(bootstrap, expected) | stalled
        wait_for(lambda: raised_alert_ids(bootstrap) == wanted, 60,
                 "the raised alerts to be exactly those the rules hold")
    finally:
        first.stop()
        second.stop()

