"""A real Prometheus server (Debian's package) scrapes the intake services with the project's scrape
configuration, and PromQL over its HTTP API sees the events an agency posted.

The three intakes run as processes (`python -m services.<name>`) on free ports against the session's
broker; deploy/prometheus/prometheus.yml is rendered with those addresses in place of the compose
service names and a token file of the test's own in place of /run/secrets/metrics-token (the intakes
ask for that token on /metrics, as outside development), and its alert rules are loaded as they are.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from devtools.broker import free_port
from services.contracts import Service
from tests.examples import example_event

AGENCIES = Path("deploy/config/agencies.dev.toml")
CONFIG = Path("deploy/prometheus/prometheus.yml")
STRUCTURED = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is missing in CI: .ci/run must install Debian's prometheus package")
        pytest.skip("prometheus is not installed (apt-get install prometheus); CI runs this test")
    return found


def wait_for(url: str, what: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what} never became ready:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def metrics_token(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("metrics-token") / "token"
    path.write_text(secrets.token_hex(32) + "\n")
    return path


@pytest.fixture(scope="module")
def intakes(kafka_bootstrap: str, metrics_token: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """The three intake services as processes: {service name: port}."""
    logs = tmp_path_factory.mktemp("intake-logs")
    ports = {service.value: free_port() for service in Service}
    processes = []
    try:
        for name, port in ports.items():
            env = {**os.environ, "GVI_ENV": "development", "GVI_AGENCIES_FILE": str(AGENCIES.resolve()),
                   "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "GVI_HOST": "127.0.0.1",
                   "GVI_PORT": str(port), "GVI_LOG_LEVEL": "WARNING",
                   "GVI_METRICS_TOKEN_FILE": str(metrics_token)}
            log = logs / f"{name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=env,
                                           stdout=out, stderr=subprocess.STDOUT)
            processes.append(process)
            wait_for(f"http://127.0.0.1:{port}/readyz", name, process, log)
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def render_config(ports: dict[str, int], prometheus_port: int, token: Path) -> dict[str, Any]:
    """The project's scrape configuration with the intakes' real addresses and the test's token file;
    services not running here (processor, dashboard, checkpointer) point at a closed local port, so
    they are simply down."""
    config = yaml.safe_load(CONFIG.read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s")
    config["global"]["evaluation_interval"] = "1s"
    closed = free_port()
    for job in config["scrape_configs"]:
        [static] = job["static_configs"]
        [target] = static["targets"]
        name = job["job_name"]
        if "authorization" in job:
            assert job["authorization"]["credentials_file"] == "/run/secrets/metrics-token", name
            job["authorization"]["credentials_file"] = str(token)
        if name in ports:
            assert target.startswith(f"{name}:"), target
            static["targets"] = [f"127.0.0.1:{ports[name]}"]
        elif name == "prometheus":
            static["targets"] = [f"127.0.0.1:{prometheus_port}"]
        else:
            static["targets"] = [f"127.0.0.1:{closed}"]
    return config


@pytest.fixture(scope="module")
def prometheus(intakes: dict[str, int], metrics_token: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = prometheus_binary()
    directory = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    (directory / "prometheus.yml").write_text(yaml.safe_dump(render_config(intakes, port, metrics_token)))
    shutil.copy(CONFIG.parent / "alerts.yml", directory / "alerts.yml")
    log = directory / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={directory / 'prometheus.yml'}",
             f"--storage.tsdb.path={directory / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/-/ready", "prometheus", process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def eventually(prometheus: str, promql: str, expected: dict[str, float], by: str = "service") -> None:
    """Waits until `promql` gives `expected` ({label value: sample value}), as scrapes come in."""
    deadline = time.monotonic() + 30
    while True:
        seen = {r["metric"].get(by, ""): float(r["value"][1]) for r in query(prometheus, promql)}
        if seen == expected:
            return
        assert time.monotonic() < deadline, f"{promql}: {seen}, expected {expected}"
        time.sleep(0.5)


def post(port: int, body: Any, key: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}/v1/events", content=json.dumps(body),
                      headers={**headers, "authorization": f"Bearer {key}"}, timeout=30)


def test_metrics_answer_only_the_token_prometheus_sends(intakes: dict[str, int], metrics_token: Path) -> None:
    url = f"http://127.0.0.1:{intakes['incidents']}/metrics"
    for headers in ({}, {"authorization": "Bearer not-the-token"}, {"authorization": "Basic eDp4"}):
        refused = httpx.get(url, headers=headers, timeout=10)
        assert refused.status_code == 401 and "GVI_METRICS_TOKEN_FILE" in refused.json()["detail"], headers
        assert refused.headers["www-authenticate"].startswith("Bearer")
    token = metrics_token.read_text().strip()
    answer = httpx.get(url, headers={"authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 200 and "# TYPE gvi_intake_" in answer.text


def test_promql_sees_the_events_agencies_posted(intakes: dict[str, int], prometheus: str) -> None:
    for _ in range(3):
        answer = post(intakes["incidents"], example_event("gvi.incident.reported.v1"), "dev-police-key",
                      STRUCTURED)
        assert answer.status_code == 202, answer.text
    warnings = [example_event("gvi.warning.delivered.v1", source="/agencies/probation") for _ in range(2)]
    answer = post(intakes["notifications"], warnings, "dev-probation-key", BATCH)
    assert answer.status_code == 202, answer.text
    refused = post(intakes["sanctions"], example_event("gvi.sanction.recorded.v1"), "no-such-key",
                   STRUCTURED)
    assert refused.status_code == 401

    eventually(prometheus, "sum by (service) (gvi_intake_events_accepted_total)",
               {"incidents": 3.0, "notifications": 2.0})
    eventually(prometheus, 'sum by (type) (gvi_intake_events_accepted_total{job="incidents"})',
               {"gvi.incident.reported.v1": 3.0}, by="type")
    eventually(prometheus, 'sum by (service) (gvi_intake_events_rejected_total{reason="unauthenticated"})',
               {"sanctions": 1.0})
    eventually(prometheus, "min by (service) (gvi_intake_broker_ready)",
               {"incidents": 1.0, "notifications": 1.0, "sanctions": 1.0})
    eventually(prometheus, 'up{job=~"incidents|notifications|sanctions"}',
               {"incidents": 1.0, "notifications": 1.0, "sanctions": 1.0}, by="job")
    eventually(prometheus, 'up{job="processor"}', {"processor": 0.0}, by="job")


def test_the_alert_rules_load_and_the_dashboard_queries_answer(
        intakes: dict[str, int], prometheus: str) -> None:
    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    alerts = {rule["name"] for group in rules for rule in group["rules"]}
    assert {"GviKafkaUnreachable", "GviIntakeErrorRate", "GviServiceDown"} <= alerts
    assert all(rule["health"] != "err" for group in rules for rule in group["rules"])

    assert post(intakes["incidents"], example_event("gvi.incident.reported.v1"), "dev-police-key",
                STRUCTURED).status_code == 202
    dashboard = json.loads(Path("deploy/grafana/dashboards/gvi-overview.json").read_text())
    panels = {p["title"]: p for p in dashboard["panels"] if p["type"] != "row"}
    accepted = panels["Accepted events / s"]["targets"][0]["expr"].replace("$__rate_interval", "1m")
    deadline = time.monotonic() + 30
    while not any(r["metric"]["service"] == "incidents" and float(r["value"][1]) > 0
                  for r in query(prometheus, accepted)):
        assert time.monotonic() < deadline, f"the dashboard's intake rate stays empty: {accepted}"
        time.sleep(0.5)
    for title in ("Latency of POST /v1/events", "Kafka reachable from the intakes"):
        for target in panels[title]["targets"]:
            assert query(prometheus, target["expr"].replace("$__rate_interval", "1m")), title
