"""docker-compose.yml, the Dockerfile and the Kubernetes manifests cross-checked against the code.

Docker and a cluster cannot run here, so these tests hold the deployment files to what the code
says: every command a container runs is a module of the project, its port and environment are those
of the service's settings, the topics are the contract's, every image is built from a Dockerfile and
every secret is referenced, never written down.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from devtools.broker import kafka_version
from devtools.deploy import prometheus_rule
from services.audit.library import AuditSettings
from services.contracts import Service, owner_of
from services.contracts.topics import ALL_TOPICS, SOURCE_TOPICS
from services.dashboard.forms import FORMS
from services.dashboard.settings import DashboardSettings
from services.infra.kafka_security import KafkaClientSettings
from services.infra.server_limits import ServerLimitSettings
from services.intake.runner import DEFAULT_PORTS
from services.intake.settings import IntakeSettings
from services.privacy.settings import PersonalDataSettings
from tests.kustomize import build, containers, pod_spec

COMPOSE = yaml.safe_load(Path("docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
KUBERNETES = Path("deploy/kubernetes")
BASE = build(KUBERNETES / "base")
PRODUCTION = build(KUBERNETES / "overlays" / "production")
RENDERINGS = {"base": BASE, "production": PRODUCTION}
IMAGE = "gvi-follow-through"

# Modules that the deployment files already run but that are still being built on other branches
# (dashboard: issue 4, checkpointer: issue 5). A command naming one of them is accepted although the
# module is missing; its environment cannot be checked until it lands. Remove an entry when its
# module is in the repository: the test below fails until you do.
PENDING_MODULES: frozenset[str] = frozenset()
# Console scripts (pyproject's [project.scripts]) the deployment files run, by the module whose
# `main` they call, while that module is being built on another branch (the gvi-privacy CLI: issue
# 20); once the script is in pyproject.toml, its entry there is used and this one must go.
PENDING_SCRIPTS: dict[str, str] = {}
# Settings a deployment file already gives a service whose settings class does not read them yet.
# Remove an entry when its settings class has it: the test below fails until you do.
PENDING_SETTINGS: dict[str, frozenset[str]] = {}
SCRIPTS: dict[str, str] = tomllib.loads(Path("pyproject.toml").read_text())["project"]["scripts"]

# The Secrets the manifests mount, and the key each must hold; created by the operators.
SECRETS = {"gvi-agencies": "agencies.toml", "gvi-audit-signing-key": "signing-key",
           "gvi-metrics-token": "token", "gvi-dashboard-users": "users.toml",
           "gvi-dashboard-session": "secret", "gvi-data-entry-keys": "data-entry-keys.toml",
           "gvi-personal-data-master-key": "master.key"}
# Secrets that Strimzi makes: the cluster CA's certificate, and each KafkaUser's password.
CLUSTER_CA_SECRET = ("gvi-kafka-cluster-ca-cert", "ca.crt")
# The Kafka user each workload connects as (and `gvi-auditor`, for auditors' gvi-audit).
KAFKA_USERS = {"incidents": "gvi-incidents", "notifications": "gvi-notifications",
               "sanctions": "gvi-sanctions", "processor": "gvi-processor", "dashboard": "gvi-dashboard",
               "audit-checkpointer": "gvi-audit-checkpointer", "privacy-retention": "gvi-privacy"}
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY$|PRIVATE)", re.IGNORECASE)


def module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix") or "")
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(c for c in alias.choices if isinstance(c, str))
        else:
            names.add(f"{prefix}{field.alias or name}".upper())
    return names


def settings_of(module: str) -> type[BaseSettings]:
    """The settings class of the service that `python -m module` runs: the intakes share
    IntakeSettings; any other service has a single BaseSettings subclass in its package."""
    if module in {f"services.{s.value}" for s in Service}:
        return IntakeSettings
    found: set[type[BaseSettings]] = set()
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        for candidate in (".".join(parts[:end]), ".".join([*parts[:end], "settings"])):
            if not module_exists(candidate):
                continue
            loaded = importlib.import_module(candidate)
            shared = (BaseSettings, KafkaClientSettings, ServerLimitSettings, AuditSettings,  # bases
                      PersonalDataSettings)
            found.update(v for v in vars(loaded).values() if isinstance(v, type)
                         and issubclass(v, BaseSettings) and v not in shared
                         and v.__module__.startswith("services."))
        if found:
            break
    assert len(found) == 1, f"{module}: expected one settings class, found {found or 'none'}"
    return found.pop()


def check_command(where: str, command: list[str]) -> str:
    """The module a container runs: `python -m module`, or a console script of pyproject.toml."""
    if command[0] != "python":
        entry = SCRIPTS.get(command[0])
        module = entry.partition(":")[0] if entry else PENDING_SCRIPTS.get(command[0], "")
        assert module, f"{where}: {command[0]} is not a console script of pyproject.toml"
        assert module_exists(module) or module in PENDING_MODULES, f"{where}: {module} does not exist"
        return module
    assert command[:2] == ["python", "-m"] and len(command) == 3, f"{where}: {command}"
    module = command[2]
    assert module_exists(module) or module in PENDING_MODULES, f"{where}: {module} does not exist"
    return module


def check_environment(where: str, module: str, env: dict[str, str]) -> None:
    """The variables are settings of the service, and GVI_PORT is the service's default port."""
    if module in PENDING_MODULES and not module_exists(module):
        return
    if module == "services.infra.topics":
        allowed = {"KAFKA_BOOTSTRAP_SERVERS", "GVI_TOPIC_PARTITIONS", "GVI_TOPIC_REPLICATION_FACTOR",
                   "GVI_TOPIC_MIN_INSYNC_REPLICAS", *env_names(KafkaClientSettings)}
        assert set(env) <= allowed, f"{where}: unknown variables {set(env) - allowed}"
        return
    settings = settings_of(module)
    unknown = set(env) - env_names(settings) - PENDING_SETTINGS.get(module, frozenset())
    assert not unknown, f"{where}: {module} has no setting for {sorted(unknown)}"
    port_fields = [f for f in settings.model_fields.values() if f.validation_alias == "GVI_PORT"]
    default = next((f.default for f in port_fields if isinstance(f.default, int)), None)
    if default is None and module in {f"services.{s.value}" for s in Service}:
        default = DEFAULT_PORTS[Service(module.rpartition(".")[2])]
    if default is not None:
        assert env.get("GVI_PORT") == str(default), f"{where}: GVI_PORT is not {module}'s port {default}"


def mounted_secret_file(doc: dict[str, Any], container: dict[str, Any], path: str) -> tuple[str, str]:
    """(Secret name, key) of the file at `path` in the container, from its mounts and the pod's volumes."""
    spec = pod_spec(doc)
    assert spec is not None
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix) and "secret" in volumes[mount["name"]]:
            secret = volumes[mount["name"]]["secret"]
            [key] = [i["key"] for i in secret["items"] if i["path"] == path[len(prefix):]]
            return secret["secretName"], key
    raise AssertionError(f"{path} is not a file of a mounted Secret")


def check_kafka_client(where: str, doc: dict[str, Any], container: dict[str, Any],
                       docs: list[dict[str, Any]]) -> None:
    """The workload connects over TLS as its own KafkaUser, with the password and the CA that Strimzi
    puts in Secrets (mounted, never written down)."""
    env = container_env(container)
    user = KAFKA_USERS[doc["metadata"]["name"]]
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", where
    assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", where
    assert env["KAFKA_SASL_USERNAME"] == user, where
    assert "KAFKA_SASL_PASSWORD" not in env and "GVI_KAFKA_ALLOW_PLAINTEXT" not in env, where
    assert find(docs, "KafkaUser", user), f"{where}: no KafkaUser {user}"
    assert mounted_secret_file(doc, container, env["KAFKA_SASL_PASSWORD_FILE"]) == (user, "password"), where
    assert mounted_secret_file(doc, container, env["KAFKA_SSL_CAFILE"]) == CLUSTER_CA_SECRET, where


def workloads(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The services: long-running, each serving HTTP on one port (the CronJob is not one)."""
    yield from (d for d in docs if d["kind"] in ("Deployment", "StatefulSet"))


def pod_templates(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Everything that runs pods: the services and the jobs."""
    yield from (d for d in docs if pod_spec(d) is not None)


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]


def container_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (`matchLabels`, `matchExpressions`) selects these labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        held = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
                "Exists": key in labels, "DoesNotExist": key not in labels}[operator]
        if not held:
            return False
    return True


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = doc["spec"]["template"]["metadata"]["labels"]
    return labels


def admitted(docs: list[dict[str, Any]], direction: str, pod: dict[str, Any], peer: dict[str, Any],
             port: int) -> bool:
    """Whether the NetworkPolicies let `pod` send to (`Egress`) or receive from (`Ingress`) `peer`,
    both workloads of the one namespace, on `port`: a pod no policy of that direction selects is
    not isolated; otherwise some rule of a policy selecting it must name the peer and the port."""
    rules, peers = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    [namespace] = find(docs, "Namespace")
    policies = [p["spec"] for p in find(docs, "NetworkPolicy") if direction in p["spec"]["policyTypes"]
                and selects(p["spec"]["podSelector"], pod_labels(pod))]
    if not policies:
        return True
    for spec in policies:
        for rule in spec.get(rules, []):
            if rule.get("ports") and port not in {p["port"] for p in rule["ports"]}:
                continue
            for selector in rule.get(peers, [{}]):
                if "ipBlock" in selector:
                    continue
                if "namespaceSelector" in selector and not selects(
                        selector["namespaceSelector"], namespace["metadata"].get("labels", {})):
                    continue
                if selects(selector.get("podSelector", {}), pod_labels(peer)):
                    return True
    return False


def topic_config(spec_config: Any) -> dict[str, str]:
    return {k: str(v) for k, v in dict(spec_config).items()}


def intake_addresses(where: str, env: dict[str, str]) -> dict[Service, tuple[str, int]]:
    """(host, port) at which the dashboard's data-entry forms reach each intake, read from the
    dashboard's environment by its own settings; every address must be set (the default is
    127.0.0.1, which in a container or pod is the dashboard itself)."""
    url_settings = {str(f.validation_alias) for name, f in DashboardSettings.model_fields.items()
                    if name.endswith("_url")}
    missing = url_settings - set(env)
    assert not missing, f"{where}: the forms would post to 127.0.0.1: set {sorted(missing)}"
    settings = DashboardSettings(GVI_USERS_FILE="users.toml", **{k: env[k] for k in url_settings})
    addresses = {}
    for name, url in settings.intake_urls.items():
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.hostname and parts.port and not parts.path, f"{where}: {url}"
        addresses[Service(name)] = (parts.hostname, parts.port)
    assert set(addresses) == set(Service), where
    return addresses


def posted_to_by_forms() -> set[Service]:
    """The intakes the dashboard's data-entry forms post to: each owns its form's event type (a
    retraction goes to the intake of the agency's other forms, so it adds none)."""
    return {owner for spec in FORMS.values() if (owner := owner_of(spec.event_type)) is not None}


# docker-compose.yml


def test_every_compose_command_is_a_module_with_its_own_settings() -> None:
    for name, service in SERVICES.items():
        command = service.get("command")
        if command is None or "build" not in service:
            continue
        module = check_command(f"compose {name}", command)
        check_environment(f"compose {name}", module, service.get("environment", {}))


def test_pending_modules_are_still_pending() -> None:
    landed = {m for m in PENDING_MODULES if module_exists(m)}
    assert not landed, f"these modules exist now: remove them from PENDING_MODULES: {sorted(landed)}"
    listed = set(PENDING_SCRIPTS) & set(SCRIPTS)
    assert not listed, f"pyproject.toml has these scripts now: remove them from PENDING_SCRIPTS: {listed}"
    for module, names in PENDING_SETTINGS.items():
        read = names & env_names(settings_of(module))
        assert not read, f"{module} reads {sorted(read)} now: remove them from PENDING_SETTINGS"


def test_every_intake_runs_on_its_documented_port_with_known_settings() -> None:
    for service in Service:
        container = SERVICES[service.value]
        assert container["command"] == ["python", "-m", f"services.{service.value}"]
        port = DEFAULT_PORTS[service]
        assert container["environment"]["GVI_PORT"] == str(port)
        assert container["ports"] == [f"${{GVI_BIND_ADDRESS:-127.0.0.1}}:{port}:{port}"]
        assert set(container["environment"]) <= env_names(IntakeSettings)
        assert container["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_secrets_come_from_the_environment_and_production_is_the_default() -> None:
    text = Path("docker-compose.yml").read_text()
    assert re.search(r"\$\{GVI_AGENCIES_FILE:\?", text)
    assert re.search(r"\$\{GVI_AUDIT_SIGNING_KEY_FILE:\?", text)
    assert re.search(r"\$\{GVI_METRICS_TOKEN_FILE:\?", text)
    assert "dev-" not in text
    for name, service in SERVICES.items():
        for key, value in service.get("environment", {}).items():
            if key == "GVI_ENV":
                assert value == "${GVI_ENV:-production}", name
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", str(value)), f"{name}: {key} is written down"
    assert SERVICES["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith(
        "${GRAFANA_ADMIN_PASSWORD:?")
    key = SERVICES["audit-checkpointer"]
    assert key["secrets"] == ["audit-signing-key", "metrics-token"]
    assert key["environment"]["GVI_AUDIT_SIGNING_KEY_FILE"] == "/run/secrets/audit-signing-key"
    # Every file a service reads under /run/secrets is a secret it mounts, whose host file the
    # variable of the same name names (compose refuses to start without it).
    read = set()
    for name, service in SERVICES.items():
        for key_name, value in service.get("environment", {}).items():
            if not str(value).startswith("/run/secrets/"):
                continue
            secret = str(value).removeprefix("/run/secrets/")
            read.add(secret)
            assert key_name.endswith("_FILE") and secret in service.get("secrets", []), (name, key_name)
            assert COMPOSE["secrets"][secret]["file"].startswith(f"${{{key_name}:?"), (name, key_name)
    assert read == set(COMPOSE["secrets"])
    dashboard = SERVICES["dashboard"]
    assert dashboard["environment"]["GVI_USERS_FILE"] == "/run/secrets/dashboard-users"
    assert dashboard["environment"]["GVI_DATA_ENTRY_KEYS_FILE"] == "/run/secrets/data-entry-keys"
    assert set(dashboard["secrets"]) == {"dashboard-users", "data-entry-keys", "metrics-token",
                                         "personal-data-master-key"}


def test_the_dashboards_forms_reach_each_intake_on_the_compose_network() -> None:
    """A compose service's name is its host name on the compose network."""
    addresses = intake_addresses("compose dashboard", SERVICES["dashboard"]["environment"])
    for service, (host, port) in addresses.items():
        intake = SERVICES[host]
        assert intake["command"] == ["python", "-m", f"services.{service.value}"], host
        assert intake["environment"]["GVI_HOST"] == "0.0.0.0", host
        assert port == int(intake["environment"]["GVI_PORT"]) == DEFAULT_PORTS[service], host


def test_the_broker_image_is_the_kafka_version_the_project_runs() -> None:
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{kafka_version()}"
    assert "healthcheck" in SERVICES["kafka"]
    assert any(v.startswith("kafka-data:") for v in SERVICES["kafka"]["volumes"])


def test_every_built_image_has_its_dockerfile() -> None:
    for name, service in SERVICES.items():
        build_spec = service.get("build")
        if build_spec is None:
            continue
        assert (Path(build_spec["context"]) / build_spec["dockerfile"]).is_file(), name
        assert service["image"].partition(":")[0] == IMAGE, name
    dockerfile = Path("deploy/docker/Dockerfile").read_text()
    assert "USER gvi" in dockerfile and "python:3.11" in dockerfile
    assert "--uid 10001" in dockerfile and "/var/lib/gvi/processor" in dockerfile


def test_state_lives_in_named_volumes_and_monitoring_is_healthchecked() -> None:
    declared = set(COMPOSE["volumes"])
    for name, mount in (("kafka", "/var/lib/kafka/data"), ("processor", "/var/lib/gvi/processor"),
                        ("prometheus", "/prometheus"), ("grafana", "/var/lib/grafana")):
        volumes = [v.split(":") for v in SERVICES[name]["volumes"]]
        assert any(src in declared and dst == mount for src, dst, *_ in volumes), name
    processor_env = SERVICES["processor"]["environment"]
    assert processor_env["GVI_PROCESSOR_DATA_DIR"] == "/var/lib/gvi/processor"
    for name in ("kafka", "prometheus", "grafana"):
        assert SERVICES[name]["healthcheck"]["test"], name
    assert SERVICES["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_prometheus_scrapes_every_compose_service_on_its_port() -> None:
    config = yaml.safe_load(Path("deploy/prometheus/prometheus.yml").read_text())
    targets = {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
               for job in config["scrape_configs"]}
    served = {name: s["environment"]["GVI_PORT"] for name, s in SERVICES.items()
              if "GVI_PORT" in s.get("environment", {})}
    assert set(served) == {s.value for s in Service} | {"processor", "dashboard", "audit-checkpointer"}
    for name, port in served.items():
        assert targets[name] == [f"{name}:{port}"], name
    mounts = SERVICES["prometheus"]["volumes"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in mounts
    assert "--config.file=/etc/prometheus/prometheus.yml" in SERVICES["prometheus"]["command"]


def test_every_compose_service_asks_for_the_metrics_token_that_prometheus_sends() -> None:
    served = {name for name, s in SERVICES.items() if "GVI_PORT" in s.get("environment", {})}
    for name in served:
        assert SERVICES[name]["environment"]["GVI_METRICS_TOKEN_FILE"] == "/run/secrets/metrics-token", name
        assert "metrics-token" in SERVICES[name]["secrets"], name
    assert SERVICES["prometheus"]["secrets"] == ["metrics-token"]
    assert COMPOSE["secrets"]["metrics-token"]["file"].startswith("${GVI_METRICS_TOKEN_FILE:?")
    config = yaml.safe_load(Path("deploy/prometheus/prometheus.yml").read_text())
    sent = {job["job_name"]: job.get("authorization") for job in config["scrape_configs"]}
    assert sent == {**{name: {"type": "Bearer", "credentials_file": "/run/secrets/metrics-token"}
                       for name in served}, "prometheus": None}


def test_grafana_is_provisioned_from_the_repository() -> None:
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES["grafana"]["volumes"]}
    provider = yaml.safe_load(Path("deploy/grafana/provisioning/dashboards/gvi.yml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert Path(mounts[dashboards_path]) == Path("./deploy/grafana/dashboards")
    assert Path(mounts["/etc/grafana/provisioning"]) == Path("./deploy/grafana/provisioning")
    datasource = yaml.safe_load(Path("deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    [source] = datasource["datasources"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in SERVICES
    for path in Path("deploy/grafana/dashboards").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == source["uid"], (path.name, panel["title"])


# Kubernetes


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_every_kubernetes_command_is_a_module_with_its_own_settings_and_port(rendering: str) -> None:
    docs = RENDERINGS[rendering]
    for doc in workloads(docs):
        for container in containers(doc):
            where = f"{rendering} {doc['kind']}/{doc['metadata']['name']}"
            module = check_command(where, container["command"])
            env = container_env(container)
            check_environment(where, module, {e["name"]: e.get("value", "") for e in container["env"]})
            [port] = container["ports"]
            assert port["name"] == "http" and str(port["containerPort"]) == env["GVI_PORT"], where
            assert env["GVI_HOST"] == "0.0.0.0", where
            assert env["KAFKA_BOOTSTRAP_SERVERS"] == "gvi-kafka-kafka-bootstrap:9093", where
            assert env.get("GVI_ENV") == "production", where
            check_kafka_client(where, doc, container, docs)
        [service] = [s for s in find(docs, "Service")
                     if s["spec"]["selector"] == doc["spec"]["selector"]["matchLabels"]]
        assert [p["port"] for p in service["spec"]["ports"]] == [port["containerPort"]], where
        assert service["spec"]["ports"][0]["targetPort"] == "http", where


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_the_dashboard_believes_x_forwarded_for_only_once_the_ingress_is_named(rendering: str) -> None:
    """The ingress controller's pod CIDR is the cluster's own: the manifests hold a placeholder the
    dashboard refuses to start with, never the private ranges or `*`."""
    [dashboard] = find(RENDERINGS[rendering], "Deployment", "dashboard")
    proxies = container_env(containers(dashboard)[0])["GVI_FORWARDED_ALLOW_IPS"]
    with pytest.raises(ValueError, match="ingress controller"):
        DashboardSettings(GVI_USERS_FILE="users.toml", GVI_FORWARDED_ALLOW_IPS=proxies)
    assert "operations.md" in (KUBERNETES / "base" / "dashboard.yaml").read_text()


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_the_dashboard_posts_its_forms_to_the_intakes_services_with_its_keys_mounted(rendering: str) -> None:
    docs = RENDERINGS[rendering]
    [dashboard] = find(docs, "Deployment", "dashboard")
    [container] = containers(dashboard)
    env = container_env(container)
    for service, (host, port) in intake_addresses(f"{rendering} dashboard", env).items():
        [intake] = find(docs, "Deployment", service.value)
        [address] = [s for s in find(docs, "Service", host)
                     if s["spec"]["selector"] == intake["spec"]["selector"]["matchLabels"]]
        assert [p["port"] for p in address["spec"]["ports"]] == [port], f"{rendering}: {host}"
        assert port == DEFAULT_PORTS[service], f"{rendering}: {host}"
    # The users (the dashboard does not start without them) and the agencies' keys: mounted Secrets.
    assert mounted_secret_file(dashboard, container, env["GVI_USERS_FILE"]) == (
        "gvi-dashboard-users", SECRETS["gvi-dashboard-users"])
    assert mounted_secret_file(dashboard, container, env["GVI_DATA_ENTRY_KEYS_FILE"]) == (
        "gvi-data-entry-keys", SECRETS["gvi-data-entry-keys"])
    # A form opened at one replica may be sent to another: its session and CSRF token must be good
    # at every replica, so all sign with one key from a Secret (unset, each process draws its own).
    by_name = {e["name"]: e for e in container["env"]}
    assert by_name["GVI_SESSION_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "gvi-dashboard-session", "key": SECRETS["gvi-dashboard-session"]}}


def test_kubernetes_and_compose_run_the_same_services_the_same_way() -> None:
    for doc in workloads(BASE):
        [container] = containers(doc)
        name = doc["metadata"]["name"]
        compose = SERVICES[name]
        env = container_env(container)
        assert compose["command"] == container["command"], name
        assert compose["environment"]["GVI_PORT"] == env["GVI_PORT"], name
        # the same files (secrets, agencies, users) and the same peers' addresses
        given = {k for k in compose["environment"] if k.startswith("GVI_") and k.endswith(("_FILE", "_URL"))}
        assert given == {k for k in env if k.startswith("GVI_") and k.endswith(("_FILE", "_URL"))}, name
    [dashboard] = find(BASE, "Deployment", "dashboard")
    assert intake_addresses("compose", SERVICES["dashboard"]["environment"]) == intake_addresses(
        "kubernetes", container_env(containers(dashboard)[0]))


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_every_workload_is_probed_limited_and_locked_down(rendering: str) -> None:
    for doc in workloads(RENDERINGS[rendering]):
        spec = pod_spec(doc)
        assert spec is not None
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in containers(doc):
            where = f"{rendering} {doc['metadata']['name']}"
            # the dashboard keeps serving (pages that say "stale since") while its feed is stale
            readiness = "/readyz?exclude=fresh" if doc["metadata"]["name"] == "dashboard" else "/readyz"
            assert container["readinessProbe"]["httpGet"] == {"path": readiness, "port": "http"}, where
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, where
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert "memory" in resources["limits"], where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
            assert container["image"].partition(":")[0] == IMAGE, where


def test_every_image_is_the_one_the_dockerfile_builds_with_a_pinned_tag_in_production() -> None:
    built = {s["image"].partition(":")[0] for s in SERVICES.values() if "build" in s}
    assert built == {IMAGE}
    for doc in workloads(PRODUCTION):
        for container in containers(doc):
            name, _, tag = container["image"].partition(":")
            assert name == IMAGE and tag and tag != "latest", container["image"]


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_disruption_budgets_and_autoscaling(rendering: str) -> None:
    docs = RENDERINGS[rendering]
    budgets = {json.dumps(p["spec"]["selector"], sort_keys=True) for p in find(docs, "PodDisruptionBudget")}
    for doc in workloads(docs):
        name = doc["metadata"]["name"]
        selector = json.dumps(doc["spec"]["selector"], sort_keys=True)
        if name == "audit-checkpointer":  # a singleton: a budget would block every node drain
            assert doc["spec"]["replicas"] == 1 and doc["spec"]["strategy"]["type"] == "Recreate"
            assert selector not in budgets
        else:
            assert selector in budgets, f"{name} has no PodDisruptionBudget"
    scaled = {h["spec"]["scaleTargetRef"]["name"]: h for h in find(docs, "HorizontalPodAutoscaler")}
    assert set(scaled) == {s.value for s in Service}
    for name, hpa in scaled.items():
        assert find(docs, "Deployment", name), name
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"], name


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_the_processor_keeps_its_state_on_a_volume_and_fits_the_partitions(rendering: str) -> None:
    docs = RENDERINGS[rendering]
    [processor] = find(docs, "StatefulSet", "processor")
    [container] = containers(processor)
    data_dir = container_env(container)["GVI_PROCESSOR_DATA_DIR"]
    [claim] = processor["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == data_dir
    assert processor["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == 10001
    partitions = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in find(docs, "KafkaTopic")}
    assert all(partitions[t.name] >= 1 for t in SOURCE_TOPICS)
    # Several workers, each its own consumer group (its pod's name), sharing the publishing of the
    # group-state partitions: at least two, and no more than there are partitions to publish.
    assert 2 <= processor["spec"]["replicas"] <= partitions["group-state"]
    by_name = {e["name"]: e for e in container["env"]}
    assert by_name["GVI_PROCESSOR_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert by_name["GVI_PROCESSOR_CLUSTER"]["value"]


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_kafka_is_replicated_three_times_and_topics_match_the_contract(rendering: str) -> None:
    docs = RENDERINGS[rendering]
    [kafka] = find(docs, "Kafka")
    config = kafka["spec"]["kafka"]["config"]
    assert kafka["spec"]["kafka"]["version"] == kafka_version()
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    assert config["default.replication.factor"] == 3 and config["min.insync.replicas"] == 2
    assert config["transaction.state.log.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    assert config["auto.create.topics.enable"] is False
    pools = find(docs, "KafkaNodePool")
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert brokers == 3 and controllers % 2 == 1
    for pool in find(docs, "KafkaNodePool"):
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert all(v["deleteClaim"] is False for v in pool["spec"]["storage"]["volumes"])
    topics = {t["spec"]["topicName"]: t for t in find(docs, "KafkaTopic")}
    assert set(topics) == {spec.name for spec in ALL_TOPICS}
    for spec in ALL_TOPICS:
        topic = topics[spec.name]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert topic["spec"]["replicas"] == 3, spec.name
        assert topic_config(topic["spec"]["config"]) == {**spec.config, "min.insync.replicas": "2"}, spec.name
        label = topic["metadata"]["labels"]["gvi-follow-through/partitions"]
        if spec.partitions is not None:  # fixed by the contract (person-keys: one order of claims)
            assert (label, topic["spec"]["partitions"]) == ("fixed", spec.partitions), spec.name
        else:
            assert label == "deployment", spec.name
    # processor joins are co-partitioned: every topic without a fixed count has the deployment's one
    assert len({topics[s.name]["spec"]["partitions"] for s in ALL_TOPICS if s.partitions is None}) == 1


def test_every_secret_is_referenced_never_inlined() -> None:
    for rendering, docs in RENDERINGS.items():
        assert not find(docs, "Secret"), f"{rendering}: a Secret is written in the manifests"
        assert not find(docs, "ConfigMap"), f"{rendering}: configuration belongs in Secrets or settings"
        referenced: dict[str, set[str]] = {}
        for doc in pod_templates(docs):
            spec = pod_spec(doc)
            assert spec is not None
            for volume in spec.get("volumes", []):
                if "secret" in volume:
                    secret = volume["secret"]
                    referenced.setdefault(secret["secretName"], set()).update(
                        i["key"] for i in secret["items"])
            for container in containers(doc):
                for env in container.get("env", []):
                    if SECRET_NAME.search(env["name"]) and not env["name"].endswith("_FILE"):
                        assert "valueFrom" in env, f"{rendering}: {env['name']} is written down"
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        referenced.setdefault(ref["name"], set()).add(ref["key"])
        made_by_strimzi = {CLUSTER_CA_SECRET[0]: {CLUSTER_CA_SECRET[1]},
                           **{user: {"password"} for user in KAFKA_USERS.values()}}
        assert referenced == {**{name: {key} for name, key in SECRETS.items()}, **made_by_strimzi}, rendering
    operations = Path("docs/operations.md").read_text()
    for name in SECRETS:
        assert f"kubectl create secret generic {name}" in operations, name
    text = "".join(p.read_text() for p in KUBERNETES.rglob("*.yaml"))
    assert "dev-" not in text and "key_sha256" not in text and "BEGIN PRIVATE KEY" not in text


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_network_policies_let_only_what_must_talk(rendering: str) -> None:
    docs = RENDERINGS[rendering]
    policies = {p["metadata"]["name"]: p["spec"] for p in find(docs, "NetworkPolicy")}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    part_of = {"app.kubernetes.io/part-of": "gvi-follow-through"}
    egress = policies["gvi-egress"]
    assert egress["podSelector"]["matchLabels"] == part_of and egress["policyTypes"] == ["Egress"]
    kafka_rule, dns_rule = egress["egress"]
    assert kafka_rule["ports"] == [{"protocol": "TCP", "port": 9093}]
    assert {p["port"] for p in dns_rule["ports"]} == {53}
    ports = {d["metadata"]["name"]: containers(d)[0]["ports"][0]["containerPort"] for d in workloads(docs)}
    for doc in workloads(docs):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert labels.items() >= part_of.items(), doc["metadata"]["name"]
    intake_ports = {p["port"] for p in policies["intake-from-ingress"]["ingress"][0]["ports"]}
    assert intake_ports == {ports[s.value] for s in Service}
    dashboard_ports = {p["port"] for p in policies["dashboard-from-ingress"]["ingress"][0]["ports"]}
    assert dashboard_ports == {ports["dashboard"]}
    scrape = {p["port"] for p in policies["metrics-from-monitoring"]["ingress"][0]["ports"]}
    assert scrape == set(ports.values())
    # Nothing from outside reaches the processor or the checkpointer except Prometheus.
    for name, spec in policies.items():
        if name in ("default-deny-ingress", "gvi-egress", "metrics-from-monitoring"):
            continue
        for doc in workloads(docs):
            if doc["metadata"]["name"] in ("processor", "audit-checkpointer"):
                assert not selects(spec["podSelector"], pod_labels(doc)), name
    # Between the system's own pods one path is open: the dashboard's data-entry forms post to the
    # intakes that own their event types (and reach no other pod's port).
    forms = {s.value for s in posted_to_by_forms()}
    for source in workloads(docs):
        for target in workloads(docs):
            port = ports[target["metadata"]["name"]]
            opened = (admitted(docs, "Egress", source, target, port)
                      and admitted(docs, "Ingress", target, source, port))
            expected = source["metadata"]["name"] == "dashboard" and target["metadata"]["name"] in forms
            assert opened == expected, (
                f"{rendering}: {source['metadata']['name']} -> {target['metadata']['name']}:{port} is "
                f"{'open' if opened else 'closed'}; the forms post to {sorted(forms)} "
                "(network-policies.yaml: dashboard-to-intakes, intake-from-dashboard)")
    [kafka] = find(docs, "Kafka")
    [listener] = kafka["spec"]["kafka"]["listeners"]
    assert listener["port"] == 9093 and listener["tls"] is True
    assert listener["authentication"] == {"type": "scram-sha-512"}
    assert listener["networkPolicyPeers"] == [{"podSelector": {"matchLabels": part_of}}]
    assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple"}


def test_the_prometheus_operator_gets_the_same_jobs_and_rules() -> None:
    [monitor] = find(PRODUCTION, "PodMonitor")
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/name"
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "http"
    # the token every pod's /metrics asks for, from the Secret the pods mount
    assert endpoint["authorization"] == {"type": "Bearer",
                                         "credentials": {"name": "gvi-metrics-token", "key": "token"}}
    for doc in workloads(PRODUCTION):
        [container] = containers(doc)
        token_file = container_env(container)["GVI_METRICS_TOKEN_FILE"]
        assert mounted_secret_file(doc, container, token_file) == ("gvi-metrics-token", "token")
    jobs = {j["job_name"] for j in yaml.safe_load(Path("deploy/prometheus/prometheus.yml").read_text())[
        "scrape_configs"]}
    assert {d["metadata"]["name"] for d in workloads(PRODUCTION)} == jobs - {"prometheus"}
    for doc in workloads(PRODUCTION):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == doc["metadata"]["name"]
    [rule] = find(PRODUCTION, "PrometheusRule")
    expected = prometheus_rule()
    assert rule["spec"] == expected["spec"], (
        "deploy/kubernetes/monitoring/prometheusrule.yaml differs from deploy/prometheus/alerts.yml: "
        "python -m devtools.deploy prometheusrule > deploy/kubernetes/monitoring/prometheusrule.yaml")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed: the "
                    "manifests are checked through tests/kustomize.py only")
@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_kubectl_kustomize_renders_what_the_tests_check(rendering: str) -> None:
    directory = KUBERNETES / ("base" if rendering == "base" else "overlays/production")
    output = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True,
                            check=True, timeout=60).stdout

    def key(doc: dict[str, Any]) -> str:
        return json.dumps(doc, sort_keys=True)

    rendered = sorted(map(key, (d for d in yaml.safe_load_all(output) if d)))
    assert rendered == sorted(map(key, RENDERINGS[rendering]))


# Kafka users, ACLs and connection settings


def test_compose_passes_the_kafka_settings_through_and_keeps_its_plaintext_broker_private() -> None:
    assert "ports" not in SERVICES["kafka"], "the PLAINTEXT broker must not be published"
    for name, service in SERVICES.items():
        if "build" not in service:
            continue
        env = service["environment"]
        assert env["KAFKA_SECURITY_PROTOCOL"] == "${KAFKA_SECURITY_PROTOCOL:-PLAINTEXT}", name
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "${KAFKA_BOOTSTRAP_SERVERS:-kafka:9092}", name
        assert env["GVI_KAFKA_ALLOW_PLAINTEXT"] == "${GVI_KAFKA_ALLOW_PLAINTEXT:-true}", name


def test_the_compose_sasl_override_gives_every_service_its_own_user_and_secret() -> None:
    override = yaml.safe_load(Path("deploy/docker/compose.kafka-sasl.yml").read_text())
    text = Path("deploy/docker/compose.kafka-sasl.yml").read_text()
    users = {**KAFKA_USERS, "topics": "gvi-topic-admin"}
    runs = {name for name, service in SERVICES.items() if "build" in service}
    assert set(override["services"]) == runs
    for name, extra in override["services"].items():
        env = {**SERVICES[name]["environment"], **extra["environment"]}
        check_environment(f"sasl override {name}", check_command(name, SERVICES[name]["command"]), env)
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_USERNAME"] == users[name]
        targets = {s["target"]: s["source"] for s in extra["secrets"] if isinstance(s, dict)}
        assert env["KAFKA_SASL_PASSWORD_FILE"] == "/run/secrets/kafka-password"
        assert env["KAFKA_SSL_CAFILE"] == "/run/secrets/kafka-ca" and targets["kafka-ca"] == "kafka-ca"
        assert override["secrets"][targets["kafka-password"]]["file"].endswith(f"/{users[name]}.password")
        kept = [s for s in extra["secrets"] if isinstance(s, str)]
        assert kept == SERVICES[name].get("secrets", []), f"{name}: the override must keep its secrets"
    for secret in override["secrets"].values():
        assert re.match(r"\$\{\w+:\?", secret["file"]), secret
    assert "KAFKA_SASL_PASSWORD:" not in text


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
def test_every_kafka_user_is_allowed_exactly_what_its_service_uses(rendering: str) -> None:
    docs = RENDERINGS[rendering]
    [kafka] = find(docs, "Kafka")
    users = {u["metadata"]["name"]: u["spec"] for u in find(docs, "KafkaUser")}
    assert set(users) == {*KAFKA_USERS.values(), "gvi-auditor"}  # gvi-privacy: also the officer's CLI
    topics = {spec.name for spec in ALL_TOPICS}
    [processor] = find(docs, "StatefulSet", "processor")
    [container] = containers(processor)
    worker_env = {e["name"]: e for e in container["env"]}
    # Each worker's id is its pod's name, <statefulset>-<ordinal>: its group and its own topics.
    assert worker_env["GVI_PROCESSOR_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    worker_prefix = f"{processor['metadata']['name']}-"
    publishers = f"{worker_env['GVI_PROCESSOR_CLUSTER']['value']}-publishers"
    intakes = {f"gvi-{s.value}": s.topic for s in Service}  # client id gvi-<service> (intake/api.py)
    writers: dict[str, set[str]] = {}
    for name, spec in users.items():
        [user] = find(docs, "KafkaUser", name)
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"], name
        assert spec["authentication"] == {"type": "scram-sha-512"}, name
        assert spec["authorization"]["type"] == "simple", name
        for rule in spec["authorization"]["acls"]:
            resource, pattern = rule["resource"], rule["resource"].get("patternType", "literal")
            assert rule.get("type", "allow") == "allow" and rule.get("host", "*") == "*", name
            assert "All" not in rule["operations"], f"{name}: name the operations, not All"
            if resource["type"] == "topic" and pattern == "literal":
                assert resource["name"] in topics, f"{name}: topic {resource['name']} is not in the contract"
                if "Write" in rule["operations"]:
                    writers.setdefault(resource["name"], set()).add(name)
            elif resource["type"] == "topic":  # faust's own topics: <worker id>-<table>-changelog, ...
                assert (name, resource["name"], pattern) == ("gvi-processor", worker_prefix, "prefix")
            elif resource["type"] == "group":
                assert name == "gvi-processor", name
                assert (resource["name"], pattern) in {(worker_prefix, "prefix"), (publishers, "literal")}
            elif resource["type"] == "transactionalId":  # <client id>-<instance>-<lane> (intake/kafka.py)
                assert name in intakes and (resource["name"], pattern) == (f"{name}-", "prefix"), name
            else:
                raise AssertionError(f"{name}: unexpected ACL resource {resource}")
    # Each topic has exactly one writer, the service that owns it; but the access log, which the
    # dashboard and the auditors' exports (gvi-audit) write with one record contract, and the key
    # topic, where the intakes claim new persons' keys and gvi-privacy shreds them.
    assert writers == {**{topic: {user} for user, topic in intakes.items()},
                       "group-state": {"gvi-processor"}, "alerts": {"gvi-processor"},
                       "access-log": {"gvi-dashboard", "gvi-auditor"},
                       "audit-checkpoints": {"gvi-audit-checkpointer"},
                       "person-keys": {*intakes, "gvi-privacy"}, "data-protection": {"gvi-privacy"}}
