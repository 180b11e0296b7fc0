"""The access log of `gvi-audit`, against the real broker on dedicated topics (sources, access log,
checkpoints): an export writes its access-log entry before it writes any output, and exports
nothing when the entry cannot be written; the access log is chained and checkpointed with the
source topics, so `gvi-audit verify` finds an entry altered or removed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka import KafkaProducer

from devtools.broker import free_port
from services.audit.library.access import KafkaAccessLog, export_entry
from services.audit.library.auditors import Auditor, Role
from services.audit.library.signing import PublicKeys, SigningKey, public_line
from services.contracts import canonical_json, partition_key
from services.contracts.access import AccessEntry, Resource
from services.privacy.kafka_keys import KafkaKeyStore
from services.privacy.keys import KeyRing
from services.privacy.sealing import seal
from tests.audit_support import (
    GVI_AUDIT,
    TopicSet,
    create_topics,
    delete_topic,
    produce_plain,
    read_all,
    running_checkpointer,
    topic_set,
    wait_all_checkpointed,
)
from tests.privacy_support import dev_master_key
from tests.unit.domain import builders as b

ROOT = Path(__file__).resolve().parents[2]
KEY = SigningKey(Ed25519PrivateKey.generate())
TRUSTED = PublicKeys.of(KEY.public)
PEOPLE = ("pol:p-1", "pol:p-2")


def _scenario() -> list[Any]:
    return [b.registered("r1", "g1", "Norra"), b.warning("w1", "g1", 1),
            b.membership("m1", PEOPLE[0], "g1", 0, 100, day=2),
            b.membership("m2", PEOPLE[1], "g1", 0, 100, day=3),
            b.sanction("s1", 16, person=PEOPLE[0], kind="detention")]


SEALED_PERSON, SEALED_EVIDENCE = "pol:p-sealed", "Seen with g1 on three evenings"


def _sealed_membership(bootstrap: str) -> dict[str, Any]:
    """A membership as an intake of today writes it: the person sealed with a key claimed in the
    broker's `person-keys` topic."""
    event = b.membership("m3", SEALED_PERSON, "g1", 0, 100, day=4).to_dict()
    event["data"]["evidence"] = SEALED_EVIDENCE

    async def claimed() -> dict[str, Any]:
        store = KafkaKeyStore(bootstrap, KeyRing(dev_master_key()), client_id="test-export")
        store.start()
        try:
            await asyncio.wait_for(store.caught_up.wait(), 20)
            return seal(event, await store.keys_for([SEALED_PERSON]))
        finally:
            await store.stop()

    return asyncio.run(claimed())


@pytest.fixture
def topics(kafka_bootstrap: str) -> TopicSet:
    """One source topic holding the scenario, an empty access log and checkpoint topic of its own."""
    found = topic_set(kafka_bootstrap, sources=1, partitions=1)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for event in _scenario():
        producer.send(found.sources[0], key=partition_key(event).encode(), value=event.to_json()).get(10)
    producer.close()
    return found


def _env(topics: TopicSet, key: str, **extra: str) -> dict[str, str]:
    # PYTHONPATH: this checkout's code, whichever checkout the virtualenv's editable install names.
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "GVI_ENV": "development",
            "GVI_AUDITOR_KEY": key, **topics.env(), **extra}


def _command(*args: str | Path) -> list[str]:
    return [*GVI_AUDIT, "--no-progress", *map(str, args)]


def gvi_audit(topics: TopicSet, *args: str | Path, key: str = "dev-dpo-key",
              **extra: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(_command(*args), env=_env(topics, key, **extra), cwd=ROOT, capture_output=True,
                          timeout=120)


def entries(topics: TopicSet) -> list[Any]:
    return read_all(topics.bootstrap, topics.access_log)


def test_an_export_with_personal_data_opens_sealed_persons_and_any_other_withholds_them(
        topics: TopicSet) -> None:
    sealed = _sealed_membership(topics.bootstrap)
    producer = KafkaProducer(bootstrap_servers=topics.bootstrap, acks="all")
    producer.send(topics.sources[0], key=b"g1", value=canonical_json(sealed)).get(10)
    producer.close()
    pseudonym = sealed["data"]["person_ref"]

    personal = gvi_audit(topics, "export", "--format", "jsonl")
    assert personal.returncode == 0, personal.stderr
    [row] = [json.loads(line) for line in personal.stdout.splitlines() if json.loads(line)["id"] == "m3"]
    assert (row["data"]["person_ref"], row["data"]["evidence"]) == (SEALED_PERSON, SEALED_EVIDENCE)

    other = gvi_audit(topics, "export", "--format", "jsonl", key="dev-auditor-key")
    assert other.returncode == 0, other.stderr
    [row] = [json.loads(line) for line in other.stdout.splitlines() if json.loads(line)["id"] == "m3"]
    assert row["data"]["person_ref"].startswith("psn:") and row["data"]["evidence"].startswith("[withheld")
    for text in (SEALED_PERSON, SEALED_EVIDENCE, pseudonym):
        assert text.encode() not in other.stdout


def test_an_export_writes_its_access_log_entry_before_any_output(topics: TopicSet, tmp_path: Path) -> None:
    out = tmp_path / "export.jsonl"
    os.mkfifo(out)  # opening it for writing blocks until it is read: nothing can be written before
    export = subprocess.Popen(_command("export", "--format", "jsonl", "--out", out),
                              env=_env(topics, "dev-dpo-key"), cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (logged := entries(topics)):
            assert export.poll() is None, export.communicate()[1]
            assert time.monotonic() < deadline, "no access-log entry while the export waits to write"
            time.sleep(0.2)
        assert export.poll() is None  # still waiting to open its output
        with open(out, "rb") as reading:
            output = reading.read()
        _, stderr = export.communicate(timeout=60)
    finally:
        if export.poll() is None:
            export.kill()
    assert export.returncode == 0, stderr
    assert all(p.encode() in output for p in PEOPLE)

    [record] = logged
    entry = AccessEntry.model_validate_json(record.value)
    assert (entry.user, entry.role, entry.resource, entry.resource_id, entry.via) == (
        "data-protection-officer", "auditor-personal-data", Resource.AUDIT_EXPORT, "all", "cli")
    assert entry.person_refs_shown is True and entry.person_refs == len(PEOPLE)
    assert record.key == b"data-protection-officer"
    assert not any(p.encode() in record.value for p in PEOPLE) and b"evidence" not in record.value
    assert entry.access_id.encode() in stderr and b"2 person references" in stderr

    pseudonymised = gvi_audit(topics, "export", "--format", "csv", key="dev-auditor-key")
    assert pseudonymised.returncode == 0, pseudonymised.stderr
    assert b"psn:" in pseudonymised.stdout
    record = entries(topics)[-1]
    entry = AccessEntry.model_validate_json(record.value)
    assert (entry.user, entry.role, entry.person_refs_shown, entry.person_refs) == (
        "internal-control", "auditor", False, len(PEOPLE))
    assert b"psn:" not in record.value


@pytest.mark.parametrize("fault", ["the access-log topic is missing", "the broker is unreachable"])
def test_an_export_that_cannot_be_logged_exports_nothing(topics: TopicSet, tmp_path: Path,
                                                         fault: str) -> None:
    out = tmp_path / "export.jsonl"
    if fault == "the access-log topic is missing":  # the broker answers and the sources are read
        extra = {"GVI_AUDIT_ACCESS_LOG_TOPIC": f"no-such-access-log-{uuid.uuid4().hex[:8]}"}
    else:
        extra = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    for target in (["--out", str(out)], []):
        refused = gvi_audit(topics, "--timeout", "3", "export", "--format", "jsonl", *target, **extra)
        assert refused.returncode == 3, refused.stderr
        assert refused.stdout == b"" and not out.exists()
        [line] = refused.stderr.decode().strip().splitlines()
        assert line.startswith("gvi-audit: error: ")
        if fault == "the access-log topic is missing":
            assert "access log" in line and "nothing was exported" in line, line
    assert entries(topics) == []


def _write_entries(topics: TopicSet, count: int) -> None:
    log = KafkaAccessLog(topics.bootstrap, topics.access_log, timeout_s=10)
    for i in range(count):
        auditor = Auditor(f"auditor-{i}", Role.AUDITOR_PERSONAL_DATA)
        log.record(export_entry(auditor, person_refs=i, time=datetime.now(UTC)))


def _recreate(topics: TopicSet, records: Sequence[Any]) -> None:
    """Delete the access-log topic and write it again from `records` (keys, timestamps, headers kept)."""
    delete_topic(topics.bootstrap, topics.access_log)
    create_topics(topics.bootstrap, [topics.access_log], 1)
    produce_plain(topics.bootstrap, topics.access_log,
                  [(r.key, r.value, r.timestamp, list(r.headers)) for r in records])


@pytest.mark.parametrize("tamper", ["altered", "missing"])
def test_verify_finds_an_access_log_entry_altered_or_removed(topics: TopicSet, tmp_path: Path,
                                                             tamper: str) -> None:
    _write_entries(topics, 6)
    with running_checkpointer(topics, KEY):
        report = wait_all_checkpointed(topics, TRUSTED)
    assert report.ok and report.unverified_records == 0, report.problems
    assert {(p.topic, p.records) for p in report.partitions} == {(topics.sources[0], len(_scenario())),
                                                                 (topics.access_log, 6)}
    keys = tmp_path / "audit.pub"
    keys.write_text(public_line(KEY.public) + "\n")
    intact = gvi_audit(topics, "verify", "--public-keys", keys, "--json")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    verified = json.loads(intact.stdout)
    assert verified["ok"] and verified["records"] == len(_scenario()) + 6

    records = entries(topics)
    if tamper == "altered":  # an export made to look like someone else's
        forged = json.loads(records[3].value) | {"user": "someone-else"}
        records[3] = dataclasses.replace(records[3], value=json.dumps(forged, sort_keys=True).encode())
    else:
        del records[3]
    _recreate(topics, records)
    failed = gvi_audit(topics, "verify", "--public-keys", keys)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"{tamper}: {topics.access_log}/0 offset 3".encode() in failed.stdout, failed.stdout
