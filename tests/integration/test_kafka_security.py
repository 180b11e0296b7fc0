"""Every service against a broker that demands SCRAM-SHA-512 over TLS and checks ACLs.

The module starts a broker of its own with a second listener, SASL_SSL, whose certificate comes from
a throwaway CA made here, with one SCRAM user per KafkaUser of deploy/kubernetes and exactly the ACLs
those manifests give (the broker's StandardAuthorizer enforces them; the PLAINTEXT listener is the
setup side, whose anonymous user is a super user). So these tests show both that the services speak
SASL_SSL with the settings of services.infra.kafka_security and that the manifests' ACLs are enough
for what each service does, and no more than that for the checks below.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern
from kafka.admin import ResourceType as KafkaResourceType
from kafka.errors import KafkaError

from devtools.broker import KafkaBroker, SecureListener, free_port
from services.audit.checkpointer import CheckpointerSettings
from services.audit.checkpointer import create_app as create_checkpointer
from services.contracts import DATA_PROTECTION_TOPIC, PERSON_KEYS_TOPIC, Service
from services.contracts.protection import Basis, PersonsErased
from services.infra.kafka_security import KafkaClientSettings, KafkaSecurity
from services.infra.topics import ensure_topics
from services.intake.api import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.privacy.kafka_keys import KafkaKeyStore, read_key_ring
from services.privacy.keys import KeyRing
from tests.audit_support import GVI_AUDIT
from tests.examples import example_event
from tests.integration.test_dashboard_kafka import dashboard, token
from tests.integration.test_intake_kafka import AGENCIES, post, read_topic
from tests.kustomize import build
from tests.privacy_support import dev_master_key
from tests.processor_support import produce, running_processor, wait_for, wait_until_live_equals_replay
from tests.tls_support import ThrowawayCA, make_test_ca
from tests.unit.domain import builders as b

USERS_MANIFEST = Path("deploy/kubernetes/base")

_RESOURCE = {"topic": KafkaResourceType.TOPIC, "group": KafkaResourceType.GROUP,
             "transactionalId": KafkaResourceType.TRANSACTIONAL_ID, "cluster": KafkaResourceType.CLUSTER}
_PATTERN = {"literal": ACLResourcePatternType.LITERAL, "prefix": ACLResourcePatternType.PREFIXED}
_OPERATION = {"Read": ACLOperation.READ, "Write": ACLOperation.WRITE, "Create": ACLOperation.CREATE,
              "Describe": ACLOperation.DESCRIBE, "DescribeConfigs": ACLOperation.DESCRIBE_CONFIGS,
              "IdempotentWrite": ACLOperation.IDEMPOTENT_WRITE}


def kafka_users() -> dict[str, list[dict[str, Any]]]:
    """The KafkaUsers of the Kubernetes base: name -> its ACL rules."""
    return {doc["metadata"]["name"]: doc["spec"]["authorization"]["acls"]
            for doc in build(USERS_MANIFEST) if doc["kind"] == "KafkaUser"}


def acls_of(user: str, rules: list[dict[str, Any]]) -> list[ACL]:
    """A Strimzi `simple` authorization block as the broker's ACL bindings."""
    acls = []
    for rule in rules:
        resource = rule["resource"]
        pattern = ResourcePattern(_RESOURCE[resource["type"]], resource.get("name", "kafka-cluster"),
                                  _PATTERN[resource.get("patternType", "literal")])
        for operation in rule["operations"]:
            acls.append(ACL(f"User:{user}", "*", _OPERATION[operation], ACLPermissionType.ALLOW, pattern))
    return acls


@dataclass
class SecureKafka:
    broker: KafkaBroker
    ca: ThrowawayCA
    passwords: dict[str, str]
    secrets_dir: Path

    @property
    def setup_bootstrap(self) -> str:
        """The PLAINTEXT listener: topic setup and independent reads, as an operator's tools would."""
        return self.broker.bootstrap

    def env(self, user: str, *, password: str | None = None, cafile: Path | None = None) -> dict[str, str]:
        """A service's connection settings for `user`, its password in a mounted file."""
        secret = self.secrets_dir / f"{user}-{uuid.uuid4().hex[:6]}.password"
        secret.write_text((password or self.passwords[user]) + "\n", encoding="utf-8")
        secret.chmod(0o600)
        return {"KAFKA_BOOTSTRAP_SERVERS": self.broker.secure_bootstrap,
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "KAFKA_SASL_USERNAME": user,
                "KAFKA_SASL_PASSWORD_FILE": str(secret), "KAFKA_SSL_CAFILE": str(cafile or self.ca.ca_file)}


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    root = tmp_path_factory.mktemp("secure-kafka")
    ca = make_test_ca(root / "tls")
    users = kafka_users()
    passwords = {user: secrets.token_urlsafe(24) for user in users}
    broker = KafkaBroker(root / "broker", free_port(), free_port(),
                         secure=SecureListener(free_port(), passwords, ca.keystore, authorizer=True))
    broker.start()
    try:
        ensure_topics(broker.bootstrap, partitions=2, replication_factor=1)
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            result = admin.create_acls([acl for user, rules in users.items() for acl in acls_of(user, rules)])
            assert not result["failed"], result["failed"]
        finally:
            admin.close()
        (root / "secrets").mkdir()
        yield SecureKafka(broker, ca, passwords, root / "secrets")
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


def wait_ready(client: TestClient, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "never became ready"
        time.sleep(0.2)


def test_every_manifest_user_exists_on_the_broker_with_its_acls(secure_kafka: SecureKafka) -> None:
    assert set(secure_kafka.passwords) == {*(f"gvi-{s.value}" for s in Service), "gvi-processor",
                                           "gvi-dashboard", "gvi-audit-checkpointer", "gvi-auditor",
                                           "gvi-privacy"}


def test_an_intake_publishes_over_sasl_ssl_with_its_own_user(secure_kafka: SecureKafka) -> None:
    settings = IntakeSettings(GVI_ENV="development", GVI_AGENCIES_FILE=AGENCIES,
                              **secure_kafka.env("gvi-incidents"))
    event = example_event("gvi.incident.reported.v1", source="/agencies/police")
    with TestClient(create_intake(Service.INCIDENTS, settings)) as client:
        wait_ready(client)
        answer = post(client, event, "dev-police-key")
        assert answer.status_code == 202, answer.text
    found = [r for r in read_topic(secure_kafka.setup_bootstrap, "incidents")
             if json.loads(r.value)["id"] == event["id"]]
    assert len(found) == 1


def test_a_user_is_refused_what_its_acls_do_not_allow(secure_kafka: SecureKafka) -> None:
    settings = IntakeSettings(GVI_ENV="development", GVI_AGENCIES_FILE=AGENCIES,
                              **secure_kafka.env("gvi-incidents"))
    producer = KafkaProducer(bootstrap_servers=secure_kafka.broker.secure_bootstrap, max_block_ms=5000,
                             **settings.kafka_security().kafka_python())
    try:
        with pytest.raises(KafkaError) as refused:
            producer.send("sanctions", b"forged").get(timeout=10)
    finally:
        producer.close(timeout=5)
    assert "Authorization" in type(refused.value).__name__, refused.value


@pytest.mark.parametrize("fault", ["wrong password", "untrusted CA"])
def test_bad_credentials_make_the_intake_unready_and_refuse_posts_without_leaking_them(
        secure_kafka: SecureKafka, fault: str, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "not-the-" + secrets.token_hex(8)
    env = (secure_kafka.env("gvi-incidents", password=wrong) if fault == "wrong password"
           else secure_kafka.env("gvi-incidents", cafile=secure_kafka.ca.other_ca_file))
    settings = IntakeSettings(GVI_ENV="development", GVI_AGENCIES_FILE=AGENCIES, **env)
    event = example_event("gvi.incident.reported.v1", source="/agencies/police")
    caplog.set_level(logging.WARNING)
    with TestClient(create_intake(Service.INCIDENTS, settings)) as client:
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            assert client.get("/readyz").status_code == 503
            time.sleep(0.5)
        answer = post(client, event, "dev-police-key")
        assert answer.status_code == 503, answer.text
    assert not [r for r in read_topic(secure_kafka.setup_bootstrap, "incidents")
                if json.loads(r.value)["id"] == event["id"]]
    expected = "Authentication failed" if fault == "wrong password" else "CERTIFICATE_VERIFY_FAILED"
    assert expected in caplog.text
    assert wrong not in caplog.text and secure_kafka.passwords["gvi-incidents"] not in caplog.text


def test_processor_dashboard_and_checkpointer_work_with_their_own_users(
        secure_kafka: SecureKafka, tmp_path: Path) -> None:
    group = f"grp-{uuid.uuid4().hex[:8]}"
    produce(secure_kafka.setup_bootstrap, [json.loads(e.to_json()) for e in (
        b.registered(f"{group}-reg", group, "Västra"), b.warning(f"{group}-w1", group, 1),
        b.incident(f"{group}-r1", f"{group}-i1", 5, [group]))])

    worker_env = {**secure_kafka.env("gvi-processor"), "GVI_PROCESSOR_CLUSTER": "gvi-processor"}
    with running_processor(secure_kafka.broker.secure_bootstrap, tmp_path / "processor",
                           app_id="processor-0", env=worker_env):  # as on Kubernetes: the pod's name
        wait_until_live_equals_replay(secure_kafka.setup_bootstrap)
    # the auditor's replay, its reader processes included, with the auditor's own user (this
    # checkout's code, whichever checkout the virtualenv's editable install names)
    auditor_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GVI_ENV": "development",
                   "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                   "GVI_AUDITOR_KEY": "dev-auditor-key", **secure_kafka.env("gvi-auditor")}
    answer = subprocess.run([*GVI_AUDIT, "--no-progress", "replay",
                             "--readers", "2", "--compare-live"], env=auditor_env, capture_output=True,
                            timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert b"byte-identical" in answer.stderr and group.encode() in answer.stdout

    with dashboard(secure_kafka.broker.secure_bootstrap, **secure_kafka.env("gvi-dashboard")) as url:
        headers = token(url, "analyst")
        assert httpx.get(f"{url}/api/groups/{group}", headers=headers).json()["status"] == "awaiting_sanction"
        assert httpx.get(f"{url}/api/groups/{group}/people", headers=headers).status_code == 200
    logged = [json.loads(r.value) for r in read_topic(secure_kafka.setup_bootstrap, "access-log")]
    assert [e["resource"] for e in logged if e["resource_id"] == group] == ["group", "group_people"]
    # an export, logged first on the access log with the same user, which may write there
    exported = subprocess.run([*GVI_AUDIT, "--no-progress", "export",
                               "--format", "jsonl"], env={**auditor_env, "GVI_AUDITOR_KEY": "dev-dpo-key"},
                              capture_output=True, timeout=120)
    assert exported.returncode == 0, exported.stderr
    logged = [json.loads(r.value) for r in read_topic(secure_kafka.setup_bootstrap, "access-log")]
    assert [(e["resource"], e["user"]) for e in logged if e["via"] == "cli"] == [
        ("audit_export", "data-protection-officer")]

    settings = CheckpointerSettings(GVI_ENV="development", GVI_AUDIT_DATA_DIR=tmp_path / "audit",
                                    GVI_AUDIT_EVERY_SECONDS=0.5, GVI_AUDIT_VERIFY_INTERVAL_SECONDS=0,
                                    **secure_kafka.env("gvi-audit-checkpointer"))
    with TestClient(create_checkpointer(settings)) as client:
        wait_ready(client)
        def chained() -> set[str]:
            return {json.loads(r.value).get("topic")
                    for r in read_topic(secure_kafka.setup_bootstrap, "audit-checkpoints")}

        wait_for(lambda: chained() >= {"incidents", "access-log"}, 30,
                 "checkpoints of a source topic and of the access log on audit-checkpoints")


@pytest.mark.parametrize(("command", "code"), [(["services.sanctions.processor"], 2),
                                               (["services.infra.topics", "--timeout", "10"], 1)])
def test_a_wrong_password_stops_the_processor_and_the_topic_job_with_one_line(
        secure_kafka: SecureKafka, command: list[str], code: int, tmp_path: Path) -> None:
    wrong = "not-the-" + secrets.token_hex(8)
    token = tmp_path / "metrics-token"
    token.write_text(secrets.token_hex(32))
    env = {"PATH": os.environ["PATH"], "GVI_ENV": "production", "GVI_PROCESSOR_DATA_DIR": str(tmp_path),
           "GVI_METRICS_TOKEN_FILE": str(token), **secure_kafka.env("gvi-processor", password=wrong)}
    done = subprocess.run([sys.executable, "-m", *command], env=env, capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == code, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "cannot start" in last or last.startswith("error:"), done.stderr
    assert "GVI_METRICS_TOKEN_FILE" not in last, done.stderr  # it got as far as the broker
    assert wrong not in done.stderr + done.stdout


async def test_the_intakes_claim_keys_gvi_privacy_shreds_them_and_the_dashboard_reads_the_ring(
        secure_kafka: SecureKafka) -> None:
    """The ACLs of person-keys and data-protection are enough for what each of their users does."""
    def security(user: str) -> KafkaSecurity:
        env = secure_kafka.env(user)
        del env["KAFKA_BOOTSTRAP_SERVERS"]
        return KafkaClientSettings(GVI_ENV="development", **env).kafka_security()

    bootstrap = secure_kafka.broker.secure_bootstrap
    master = dev_master_key()
    person = f"police:p-acl-{uuid.uuid4().hex[:8]}"
    intake = KafkaKeyStore(bootstrap, KeyRing(master), client_id="gvi-sanctions",
                           security=security("gvi-sanctions"))
    intake.start()
    try:
        await asyncio.wait_for(intake.caught_up.wait(), 30)
        pseudonym = (await intake.keys_for([person]))[person].pseudonym
    finally:
        await intake.stop()
    seen = await read_key_ring(bootstrap, KeyRing(master), security=security("gvi-dashboard"))
    assert seen.reveal(pseudonym) == person
    officer = KafkaKeyStore(bootstrap, KeyRing(master), client_id="gvi-privacy",
                            security=security("gvi-privacy"))
    officer.start()
    try:
        await asyncio.wait_for(officer.caught_up.wait(), 30)
        assert await officer.shred([pseudonym]) == 1
    finally:
        await officer.stop()
    erased = PersonsErased(record_id=uuid.uuid4().hex, time=datetime.now(UTC), officer="acl-test",
                           basis=Basis.RETENTION, reason="ACL test", pseudonyms=(pseudonym,), persons=1)
    officer_producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                     **security("gvi-privacy").kafka_python())
    dashboard_producer = KafkaProducer(bootstrap_servers=bootstrap, max_block_ms=5000,
                                       **security("gvi-dashboard").kafka_python())
    try:
        officer_producer.send(DATA_PROTECTION_TOPIC, erased.to_json(), key=erased.key()).get(timeout=10)
        with pytest.raises(KafkaError):  # the dashboard reads the key topic, never writes it
            dashboard_producer.send(PERSON_KEYS_TOPIC, b"forged").get(timeout=10)
    finally:
        officer_producer.close(timeout=5)
        dashboard_producer.close(timeout=5)
    seen = await read_key_ring(bootstrap, KeyRing(master), security=security("gvi-dashboard"))
    assert seen.reveal(pseudonym) is None
    logged = [r.value for r in read_topic(secure_kafka.setup_bootstrap, DATA_PROTECTION_TOPIC)]
    assert logged == [erased.to_json()]
