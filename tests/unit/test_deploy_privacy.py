"""Crypto-shredding in the deployment files: who holds the master key, who may read and write the key
topic and the data-protection log, and the retention job, under Compose and on Kubernetes.

The rest of the deployment is checked by tests/unit/test_deploy.py, whose helpers these tests use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.contracts import Service
from services.contracts.topics import ALL_TOPICS, DATA_PROTECTION_TOPIC, PERSON_KEYS_TOPIC, SOURCE_TOPIC_NAMES
from services.infra.kafka_security import KafkaClientSettings
from services.infra.topics import _creation_request
from services.privacy.settings import PersonalDataSettings
from tests.kustomize import containers, pod_spec
from tests.unit.test_deploy import (
    RENDERINGS,
    SERVICES,
    check_command,
    check_environment,
    check_kafka_client,
    container_env,
    env_names,
    find,
    mounted_secret_file,
    pod_labels,
    pod_templates,
    selects,
)

MASTER_KEY_ENV = "GVI_PERSONAL_DATA_MASTER_KEY_FILE"
PREVIOUS_KEYS_ENV = "GVI_PERSONAL_DATA_PREVIOUS_MASTER_KEY_FILES"
ROTATION_OVERRIDE = Path("deploy/docker/compose.previous-master-key.yml")
MASTER_KEY_SECRET = ("gvi-personal-data-master-key", "master.key")
RETENTION_ENV = {"GVI_RETENTION_MEMBERSHIP_MONTHS", "GVI_RETENTION_PERSON_YEARS"}
# What `gvi-privacy retention` is given (the CLI is built on another branch; once it is in,
# check_environment holds these to its own settings too).
RETENTION_JOB_ENV = (env_names(KafkaClientSettings) | env_names(PersonalDataSettings) | RETENTION_ENV
                     | {"KAFKA_BOOTSTRAP_SERVERS"})
# Who opens or seals person data: the intakes, the dashboard and the privacy job; never the processor
# (rules compare pseudonyms), the checkpointer (it chains sealed records as they are) or replay.
KEY_HOLDERS = {*(s.value for s in Service), "dashboard", "privacy-retention"}
INTAKE_USERS = {f"gvi-{s.value}" for s in Service}


def acls(rendering: str) -> dict[str, dict[str, set[str]]]:
    """user -> topic -> operations, for the literal topic ACLs."""
    found: dict[str, dict[str, set[str]]] = {}
    for user in find(RENDERINGS[rendering], "KafkaUser"):
        topics = found.setdefault(user["metadata"]["name"], {})
        for rule in user["spec"]["authorization"]["acls"]:
            resource = rule["resource"]
            if resource["type"] == "topic" and resource.get("patternType", "literal") == "literal":
                topics.setdefault(resource["name"], set()).update(rule["operations"])
    return found


def the_cronjob(rendering: str) -> tuple[dict[str, Any], dict[str, Any]]:
    [job] = find(RENDERINGS[rendering], "CronJob", "privacy-retention")
    [container] = containers(job)
    return job, container


# Topics


def test_topic_setup_gives_person_keys_its_one_partition_whatever_the_default() -> None:
    specs = {spec.name: spec for spec in ALL_TOPICS}
    assert _creation_request(specs[PERSON_KEYS_TOPIC], 12, 3, 2)["num_partitions"] == 1
    assert _creation_request(specs[DATA_PROTECTION_TOPIC], 12, 3, 2)["num_partitions"] == 12
    assert SERVICES["topics"]["command"] == ["python", "-m", "services.infra.topics"]  # ALL_TOPICS


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_person_keys_has_one_partition_in_every_rendering(rendering: str) -> None:
    [topic] = [t for t in find(RENDERINGS[rendering], "KafkaTopic")
               if t["spec"]["topicName"] == PERSON_KEYS_TOPIC]
    assert topic["spec"]["partitions"] == 1
    assert topic["spec"]["config"]["cleanup.policy"] == "compact"


# Kafka users


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_the_key_topic_and_the_protection_log_have_exactly_their_readers_and_writers(rendering: str) -> None:
    users = acls(rendering)
    keys = {user: ops for user, topics in users.items() if (ops := topics.get(PERSON_KEYS_TOPIC))}
    assert keys == {**{u: {"Describe", "Read", "Write"} for u in INTAKE_USERS},
                    "gvi-dashboard": {"Describe", "Read"}, "gvi-privacy": {"Describe", "Read", "Write"},
                    "gvi-auditor": {"Describe", "Read"}}  # verify: erased persons' claims are gone
    log = {user: ops for user, topics in users.items() if (ops := topics.get(DATA_PROTECTION_TOPIC))}
    assert log == {"gvi-audit-checkpointer": {"Describe", "Read"}, "gvi-auditor": {"Describe", "Read"},
                   "gvi-privacy": {"Describe", "Read", "Write"}}
    # gvi-privacy reads the sources to find a person's events and deadlines, writes none of them, and
    # reads nothing derived; it needs no consumer group and no transaction.
    assert users["gvi-privacy"] == {**{t: {"Describe", "Read"} for t in SOURCE_TOPIC_NAMES},
                                    PERSON_KEYS_TOPIC: {"Describe", "Read", "Write"},
                                    DATA_PROTECTION_TOPIC: {"Describe", "Read", "Write"}}
    [privacy] = find(RENDERINGS[rendering], "KafkaUser", "gvi-privacy")
    assert {r["resource"]["type"] for r in privacy["spec"]["authorization"]["acls"]} == {"topic"}


# The master key


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_only_the_key_holders_mount_the_master_key(rendering: str) -> None:
    holders = set()
    for doc in pod_templates(RENDERINGS[rendering]):
        spec = pod_spec(doc)
        assert spec is not None
        mounted = {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
        [container] = containers(doc)
        env = container_env(container)
        if MASTER_KEY_SECRET[0] in mounted or MASTER_KEY_ENV in env:
            holders.add(doc["metadata"]["name"])
            assert mounted_secret_file(doc, container, env[MASTER_KEY_ENV]) == MASTER_KEY_SECRET
    assert holders == KEY_HOLDERS, rendering


def test_compose_gives_the_master_key_to_the_key_holders_only() -> None:
    holders = {name for name, s in SERVICES.items() if "personal-data-master-key" in s.get("secrets", [])}
    assert holders == KEY_HOLDERS
    for name in holders:
        assert SERVICES[name]["environment"][MASTER_KEY_ENV] == "/run/secrets/personal-data-master-key"
    for name in ("processor", "audit-checkpointer", "topics"):
        assert MASTER_KEY_ENV not in SERVICES[name]["environment"], name


def test_the_compose_rotation_override_gives_a_previous_key_to_the_key_holders_only() -> None:
    override = yaml.safe_load(ROTATION_OVERRIDE.read_text())
    assert set(override["services"]) == KEY_HOLDERS
    for name, extra in override["services"].items():
        env = {**SERVICES[name]["environment"], **extra["environment"]}
        check_environment(f"rotation override {name}", check_command(name, SERVICES[name]["command"]), env)
        assert env[PREVIOUS_KEYS_ENV] == "/run/secrets/personal-data-previous-master-key"
        assert extra["secrets"] == [*SERVICES[name]["secrets"], "personal-data-previous-master-key"], name
    assert override["secrets"]["personal-data-previous-master-key"]["file"].startswith(
        "${GVI_PERSONAL_DATA_PREVIOUS_MASTER_KEY_FILE:?")
    assert PREVIOUS_KEYS_ENV not in str(SERVICES)  # only during a rotation


def test_every_kubernetes_key_holder_says_where_a_previous_key_goes() -> None:
    assert PREVIOUS_KEYS_ENV in env_names(PersonalDataSettings)
    for name in KEY_HOLDERS:
        text = Path(f"deploy/kubernetes/base/{name}.yaml").read_text()
        assert f"# - {{name: {PREVIOUS_KEYS_ENV}, value: /run/secrets/personal-data/previous.key}}" in text


# The retention job


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_the_retention_cronjob_runs_gvi_privacy_daily_as_its_own_kafka_user(rendering: str) -> None:
    docs = RENDERINGS[rendering]
    job, container = the_cronjob(rendering)
    where = f"{rendering} CronJob/privacy-retention"
    assert container["command"] == ["gvi-privacy", "retention"]
    check_environment(where, check_command(where, container["command"]), container_env(container))
    env = container_env(container)
    assert set(env) <= RETENTION_JOB_ENV, f"{where}: {set(env) - RETENTION_JOB_ENV}"
    assert RETENTION_ENV <= set(env) and all(int(env[name]) > 0 for name in RETENTION_ENV)
    assert env["GVI_ENV"] == "production"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "gvi-kafka-kafka-bootstrap:9093"
    check_kafka_client(where, job, container, docs)
    minute, hour, day, month, weekday = job["spec"]["schedule"].split()
    assert (day, month, weekday) == ("*", "*", "*") and minute.isdigit() and hour.isdigit()
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    assert "ports" not in container and "readinessProbe" not in container


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_the_retention_job_is_locked_down_and_reaches_only_kafka(rendering: str) -> None:
    docs = RENDERINGS[rendering]
    job, container = the_cronjob(rendering)
    spec = pod_spec(job)
    assert spec is not None
    assert spec["automountServiceAccountToken"] is False and spec["restartPolicy"] in ("Never", "OnFailure")
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]
    assert container["image"].partition(":")[0] == "gvi-follow-through"
    labels = pod_labels({"spec": job["spec"]["jobTemplate"]["spec"]})
    egress = [p["metadata"]["name"] for p in find(docs, "NetworkPolicy")
              if "Egress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)]
    assert egress == ["gvi-egress"]  # the brokers' TLS listener and DNS, nothing else
    ingress = {p["metadata"]["name"] for p in find(docs, "NetworkPolicy")
               if "Ingress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)}
    assert ingress <= {"default-deny-ingress", "metrics-from-monitoring"}  # it listens on no port


def test_compose_runs_the_retention_job_like_the_cronjob_every_day() -> None:
    service = SERVICES["privacy-retention"]
    _, container = the_cronjob("base")
    assert service["command"] == [*container["command"], "--every", "86400"]
    module = check_command("compose privacy-retention", service["command"])
    env = service["environment"]
    check_environment("compose privacy-retention", module, env)
    assert set(env) <= RETENTION_JOB_ENV, set(env) - RETENTION_JOB_ENV
    assert RETENTION_ENV <= set(env) and env[MASTER_KEY_ENV] == "/run/secrets/personal-data-master-key"
    assert set(service["secrets"]) == {"personal-data-master-key"}
    assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    assert "ports" not in service and "GVI_PORT" not in env
