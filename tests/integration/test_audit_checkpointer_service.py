"""The checkpointer as it runs (`python -m services.audit.checkpointer`), checked by `gvi-audit verify`
and the dashboard's `AuditView`, on dedicated topics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka import KafkaProducer

from devtools.broker import free_port
from services.audit.library.api import AuditView
from services.audit.library.checkpoints import Checkpoint, checkpoint_key, decode
from services.audit.library.signing import SigningKey, load_public_keys
from tests.audit_support import GVI_AUDIT, TopicSet, produce_transactions, read_all, topic_set


@pytest.fixture
def service(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[str, TopicSet, Path]]:
    topics = topic_set(kafka_bootstrap)
    port = free_port()
    env = {**os.environ, **topics.env(), "GVI_ENV": "development", "GVI_PORT": str(port),
           "GVI_AUDIT_DATA_DIR": str(tmp_path), "GVI_AUDIT_EVERY_SECONDS": "0.5",
           "GVI_AUDIT_VERIFY_INTERVAL_SECONDS": "1", "GVI_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "services.audit.checkpointer"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the checkpointer never became ready"
            time.sleep(0.2)
        yield url, topics, tmp_path
    finally:
        proc.terminate()
        proc.wait(20)


def gvi_audit(topics: TopicSet, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "GVI_ENV": "development", "GVI_AUDITOR_KEY": "dev-auditor-key",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2]),  # this checkout's code
           **topics.env()}
    return subprocess.run([*GVI_AUDIT, "--no-progress", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


def test_the_running_checkpointer_is_verified_by_the_cli_and_shown_to_the_dashboard(
        service: tuple[str, TopicSet, Path]) -> None:
    url, topics, data_dir = service
    produce_transactions(topics.bootstrap, topics.sources[0], [[(b"g", b'{"n":%d}' % i)] for i in range(7)],
                         abort=(3,))
    public = data_dir / "signing-key.pub"
    deadline = time.monotonic() + 30
    while True:
        answer = gvi_audit(topics, "verify", "--public-keys", str(public), "--json")
        report = json.loads(answer.stdout)
        if report["unverified_records"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert answer.returncode == 0 and report["ok"] and report["records"] == 6, answer.stderr
    while metric(url, "gvi_audit_verification_timestamp_seconds") == 0 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert metric(url, "gvi_audit_verification_ok") == 1
    assert metric(url, "gvi_audit_checkpoints_total") >= 1
    assert metric(url, "gvi_audit_last_checkpoint_timestamp_seconds") > 0

    view = AuditView(topics.bootstrap, load_public_keys(public), checkpoint_topic=topics.checkpoints,
                     topics=topics.sources)
    snapshot = view.snapshot()
    assert snapshot.last_verification is not None and snapshot.last_verification.ok
    assert sum(p.last_count for p in snapshot.partitions) == 6 and not snapshot.problems

    genuine = next(c for r in read_all(topics.bootstrap, topics.checkpoints)
                   if isinstance(c := decode(r.value), Checkpoint))
    intruder = SigningKey(Ed25519PrivateKey.generate())
    forged = genuine.model_copy(update={"count": genuine.count + 1})
    forged = forged.model_copy(update={"signature": intruder.sign(forged.signed_bytes())})
    producer = KafkaProducer(bootstrap_servers=topics.bootstrap, acks="all")
    producer.send(topics.checkpoints, key=checkpoint_key(forged.topic, forged.partition),
                  value=forged.to_json()).get(10)
    producer.close()
    failed = gvi_audit(topics, "verify", "--public-keys", str(public))
    assert failed.returncode == 1
    assert f"bad_signature: {genuine.topic}/{genuine.partition} offset {genuine.offset}" in failed.stdout
    assert view.snapshot().problems[0].kind == "bad_signature"


def test_verify_without_a_broker_is_one_line_and_exit_3(tmp_path: Path) -> None:
    topics = TopicSet(f"127.0.0.1:{free_port()}", ("incidents",), "audit-checkpoints", "access-log")
    (tmp_path / "k.pub").write_text("")
    answer = gvi_audit(topics, "--timeout", "2", "verify", "--public-keys", str(tmp_path / "k.pub"))
    assert answer.returncode == 2 and answer.stderr.count("\n") == 1  # the empty keys file comes first
    from services.audit.library.signing import generate_key_file
    generate_key_file(tmp_path / "k.pem")
    answer = gvi_audit(topics, "--timeout", "2", "verify", "--public-keys", str(tmp_path / "k.pub"))
    assert answer.returncode == 3, answer.stderr
    assert answer.stderr.startswith("gvi-audit: error: no Kafka broker reachable at")
    assert answer.stderr.count("\n") == 1
