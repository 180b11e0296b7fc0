"""The auditors' pages against the real broker and a running checkpointer (on dedicated topics): an
auditor sees the verification result the checkpointer signed and published, the checkpoints of every
partition, a forged checkpoint as a bad signature, and the reads other users made, through the
`access-log` topic; other roles are refused; no broker is a 503."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from kafka import KafkaProducer

from devtools.broker import free_port
from services.audit.library.checkpoints import Checkpoint, checkpoint_key, decode
from services.audit.library.signing import PublicKeys, SigningKey, public_line
from services.dashboard.app import create_app
from services.dashboard.settings import DashboardSettings
from tests.audit_support import (
    produce_transactions,
    read_all,
    running_checkpointer,
    topic_set,
    wait_all_checkpointed,
)
from tests.integration.test_dashboard_kafka import USERS, Processor, dashboard, token
from tests.unit.domain import builders as b


def audit(url: str, headers: dict[str, str]) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/audit", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def test_an_auditor_sees_the_signed_verification_the_checkpoints_and_the_access_log(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    topics = topic_set(kafka_bootstrap)
    key = SigningKey(Ed25519PrivateKey.generate())
    keys_file = tmp_path / "auditors.pub"
    keys_file.write_text(public_line(key.public) + "\n")
    produce_transactions(kafka_bootstrap, topics.sources[0], [[(b"a", b'{"n":%d}' % i)] for i in range(5)],
                         partition=0)
    produce_transactions(kafka_bootstrap, topics.sources[0], [[(b"b", b'{"n":%d}' % i)] for i in range(3)],
                         partition=1)
    produce_transactions(kafka_bootstrap, topics.sources[1], [[(b"c", b'{"m":%d}' % i)] for i in range(4)],
                         abort=(1,), partition=0)
    with running_checkpointer(topics, key) as checkpointer:
        assert wait_all_checkpointed(topics, PublicKeys.of(key.public)).unverified_records == 0
        checkpointer.verify_now()                       # signs and publishes its result

    group = f"grp-{uuid.uuid4().hex[:8]}"
    processor = Processor(kafka_bootstrap)
    processor.post(b.registered(f"{group}-reg", group, "Västra"), b.warning(f"{group}-w1", group, 1))
    processor.producer.close()
    with dashboard(kafka_bootstrap, GVI_AUDIT_PUBLIC_KEYS_FILE=str(keys_file),
                   GVI_AUDIT_SOURCE_TOPICS=",".join(topics.sources),
                   GVI_AUDIT_CHECKPOINT_TOPIC=topics.checkpoints, GVI_AUDIT_CACHE_SECONDS=0) as url:
        for role in ("operator", "analyst"):
            assert httpx.get(f"{url}/api/audit", headers=token(url, role)).status_code == 403
        auditor = token(url, "auditor")
        document = audit(url, auditor)
        verification = document["last_verification"]
        assert verification["ok"] is True and verification["records"] == 11, verification
        assert verification["unverified_records"] == 0
        assert verification["key_id"] == key.key_id
        assert [(p["topic"], p["partition"], p["last_count"]) for p in document["partitions"]] == [
            (topics.sources[0], 0, 5), (topics.sources[0], 1, 3), (topics.sources[1], 0, 3)]
        assert document["problems"] == []

        # a reader's access, through the access-log topic, reaches the auditors' page
        analyst = token(url, "analyst")
        assert httpx.get(f"{url}/api/groups/{group}/people", headers=analyst).status_code == 200
        deadline = time.monotonic() + 15
        while True:
            log = httpx.get(f"{url}/api/audit/access-log", params={"resource_id": group}, headers=auditor)
            entries = log.json()["entries"]
            if entries or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [(e["user"], e["resource"], e["person_refs_shown"]) for e in entries] == [
            ("analyst", "group_people", True)]

        # a checkpoint signed by someone else's key, under our key's id, shows as a bad signature
        genuine = next(c for r in read_all(kafka_bootstrap, topics.checkpoints)
                       if isinstance(c := decode(r.value), Checkpoint))
        intruder = SigningKey(Ed25519PrivateKey.generate())
        forged = genuine.model_copy(update={"count": genuine.count + 1})
        forged = forged.model_copy(update={"signature": intruder.sign(forged.signed_bytes())})
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        producer.send(topics.checkpoints, key=checkpoint_key(forged.topic, forged.partition),
                      value=forged.to_json()).get(10)
        producer.close()
        problems = audit(url, auditor)["problems"]
        assert [(p["kind"], p["topic"], p["partition"], p["offset"]) for p in problems] == [
            ("bad_signature", genuine.topic, genuine.partition, genuine.offset)]

        client = httpx.Client(base_url=url)
        page = client.get("/login")
        csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        client.post("/login", data={"username": "auditor", "password": "dev-auditor", "csrf_token": csrf,
                                    "next": "/audit"})
        html = client.get("/audit").text
        assert "Verified: the log is intact" in html and "bad signature" in html
        assert topics.sources[1] in html and "group with person references" in html
        client.close()


def test_the_audit_trail_without_a_broker_is_a_503(tmp_path: Path) -> None:
    key = SigningKey(Ed25519PrivateKey.generate())
    (tmp_path / "auditors.pub").write_text(public_line(key.public) + "\n")
    settings = DashboardSettings(GVI_ENV="development", GVI_USERS_FILE=USERS,
                                 KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}",
                                 GVI_AUDIT_PUBLIC_KEYS_FILE=tmp_path / "auditors.pub",
                                 GVI_AUDIT_TIMEOUT_SECONDS=2)
    with TestClient(create_app(settings)) as client:
        answer = client.post("/api/token", data={"username": "auditor", "password": "dev-auditor"})
        headers = {"authorization": f"Bearer {answer.json()['access_token']}"}
        refused = client.get("/api/audit", headers=headers)
        assert refused.status_code == 503 and "no Kafka broker reachable" in refused.json()["detail"]
        assert client.get("/api/audit/access-log", headers=headers).status_code == 200   # from memory
