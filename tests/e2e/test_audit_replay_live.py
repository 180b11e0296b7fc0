"""`gvi-audit replay` against the live processor: byte-identical group states after a scenario with a
late attribution, retractions, duplicate records and a processor restart.

The processor reads the fixed source topics and writes the shared `group-state` topic, so this test
runs both on a broker of its own: no other test's processor output can linger in its group-state.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from devtools.broker import free_port
from services.contracts import CloudEvent, owner_of, partition_key
from services.contracts.group_state_records import states_document
from services.followthrough import derive
from tests.audit_support import GVI_AUDIT
from tests.integration.test_audit_replay import scenario
from tests.unit.domain import builders as b


@pytest.fixture(scope="module")
def own_broker(own_kafka_bootstrap: str) -> str:
    return own_kafka_bootstrap


def publish(bootstrap: str, events: list[CloudEvent], keys: dict[str, tuple[str, str]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for event in events:
        if event.type == "gvi.event.retracted.v1":
            topic, key = keys[event.data.retracted_event_id]  # type: ignore[union-attr]
        else:
            service = owner_of(event.type)
            assert service is not None
            topic, key = service.topic, partition_key(event)
        keys.setdefault(event.id, (topic, key))
        producer.send(topic, key=key.encode(), value=event.to_json()).get(10)
    producer.close()


def start_processor(bootstrap: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "GVI_ENV": "development",
           "GVI_PROCESSOR_DATA_DIR": str(data_dir), "GVI_PORT": str(free_port()), "GVI_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "services.sanctions.processor"], env=env)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def replay_equals_live(bootstrap: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """`gvi-audit replay --compare-live` until the processor has caught up (exit 0) or time runs out."""
    env = {"PATH": "/usr/bin:/bin", "GVI_ENV": "development", "GVI_AUDITOR_KEY": "dev-auditor-key",
           "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    command = [*GVI_AUDIT, "--no-progress", "replay", "--compare-live"]
    deadline = time.monotonic() + timeout
    while True:
        answer = subprocess.run(command, env=env, capture_output=True, timeout=120)
        if answer.returncode != 1 or time.monotonic() > deadline:
            return answer
        time.sleep(1)


def test_replay_equals_the_live_group_states_across_a_processor_restart(own_broker: str,
                                                                          tmp_path: Path) -> None:
    keys: dict[str, tuple[str, str]] = {}
    first = scenario()
    publish(own_broker, first, keys)
    processor = start_processor(own_broker, tmp_path / "processor")
    try:
        answer = replay_equals_live(own_broker)
        assert answer.returncode == 0, answer.stderr.decode()[-2000:]
        assert answer.stdout == states_document(derive(first).groups)
    finally:
        stop(processor)

    later = [
        b.attribution("att2", "i1", 45, ["g1", "g3"], recorded_day=46),  # re-attributed again, weeks later
        b.warning("w3", "g3", 0.5),
        b.retraction("x2", "s2", 50),
        b.sanction("s4", 47, group="g3"),
        b.sanction("s4", 47, group="g3"),  # the same event twice
    ]
    publish(own_broker, later, keys)
    processor = start_processor(own_broker, tmp_path / "processor")
    try:
        answer = replay_equals_live(own_broker)
        assert answer.returncode == 0, answer.stderr.decode()[-2000:]
        assert b"byte-identical" in answer.stderr
        assert answer.stdout == states_document(derive(first + later).groups)
        g3 = [line for line in answer.stdout.splitlines() if b'"group_id":"g3"' in line]
        assert g3 and b'"sanction_ids":["s4"]' in g3[0]
    finally:
        stop(processor)
