"""docker-compose.yml and the Dockerfile cross-checked against the code (Docker cannot run here)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import yaml

from devtools.broker import kafka_version
from services.contracts import Service
from services.intake.runner import DEFAULT_PORTS
from services.intake.settings import IntakeSettings

COMPOSE = yaml.safe_load(Path("docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def settings_env_names() -> set[str]:
    return {str(f.validation_alias) for f in IntakeSettings.model_fields.values()}


def test_every_container_command_is_a_module_of_the_project() -> None:
    for name, service in SERVICES.items():
        command = service.get("command")
        if command is None:
            continue
        assert command[:2] == ["python", "-m"], name
        assert importlib.util.find_spec(command[2]) is not None, f"{name}: {command[2]} does not exist"


def test_every_intake_runs_on_its_documented_port_with_known_settings() -> None:
    for service in Service:
        container = SERVICES[service.value]
        assert container["command"] == ["python", "-m", f"services.{service.value}"]
        port = DEFAULT_PORTS[service]
        assert container["environment"]["GVI_PORT"] == str(port)
        assert container["ports"] == [f"${{GVI_BIND_ADDRESS:-127.0.0.1}}:{port}:{port}"]
        assert set(container["environment"]) <= settings_env_names()
        assert container["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_secrets_come_from_the_environment_and_production_is_the_default() -> None:
    text = Path("docker-compose.yml").read_text()
    assert re.search(r"\$\{GVI_AGENCIES_FILE:\?", text)
    assert "dev-" not in text
    assert SERVICES["incidents"]["environment"]["GVI_ENV"] == "${GVI_ENV:-production}"


def test_the_broker_image_is_the_kafka_version_the_project_runs() -> None:
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{kafka_version()}"
    assert "healthcheck" in SERVICES["kafka"]
    assert any(v.startswith("kafka-data:") for v in SERVICES["kafka"]["volumes"])


def test_every_built_image_has_its_dockerfile() -> None:
    for name, service in SERVICES.items():
        build = service.get("build")
        if build is None:
            continue
        assert (Path(build["context"]) / build["dockerfile"]).is_file(), name
    dockerfile = Path("deploy/docker/Dockerfile").read_text()
    assert "USER gvi" in dockerfile and "python:3.11" in dockerfile
