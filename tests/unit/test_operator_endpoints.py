"""`/metrics` and the API documentation as an outsider and as Prometheus see them (issue 22, item 6):
outside development `/metrics` answers only the bearer token of GVI_METRICS_TOKEN_FILE and the
documentation routes are gone; in development both are open. Every HTTP service, with its fakes."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.audit.checkpointer import CheckpointerSettings
from services.audit.checkpointer import create_app as create_checkpointer
from services.audit.library.signing import generate_key_file
from services.contracts import Service
from services.dashboard.app import Adapters as DashboardAdapters
from services.dashboard.app import create_app as create_dashboard
from services.dashboard.auth import Role, User, UserDirectory, hash_password
from services.dashboard.ports import FixedAuditTrail, MemoryAccessLog
from services.dashboard.settings import DashboardSettings
from services.infra.operator_endpoints import MetricsAccessError
from services.intake.agencies import Agency, AgencyDirectory, hash_key
from services.intake.api import Adapters as IntakeAdapters
from services.intake.api import create_app as create_intake
from services.intake.ledger import ReceiptLedger
from services.intake.publishing import FakePublisher
from services.intake.settings import IntakeSettings

TOKEN = secrets.token_hex(32)
DOCS = ("/docs", "/redoc", "/openapi.json")


async def _ready() -> bool:
    return True


def intake(env: str, **settings: object) -> FastAPI:
    directory = AgencyDirectory({hash_key(secrets.token_hex(32)): Agency(
        "police", "/agencies/police", frozenset({"gvi.incident.reported.v1"}))})
    return create_intake(Service.INCIDENTS, IntakeSettings(GVI_ENV=env, GVI_AGENCIES_FILE="unused.toml",
                                                           **settings),
                         adapters=IntakeAdapters(FakePublisher(), ReceiptLedger(), _ready),
                         directory=directory)


def dashboard(env: str, **settings: object) -> FastAPI:
    directory = UserDirectory([User("operator", Role.OPERATOR, hash_password(secrets.token_hex(16)))])
    return create_dashboard(DashboardSettings(GVI_ENV=env, GVI_USERS_FILE="unused.toml", **settings),
                            adapters=DashboardAdapters(access_log=MemoryAccessLog(), ready=_ready,
                                                       audit=FixedAuditTrail()),
                            directory=directory)


def checkpointer(env: str, **settings: object) -> FastAPI:
    key_file = Path(str(settings.pop("key_dir"))) / "signing-key.pem"
    key = generate_key_file(key_file)
    return create_checkpointer(CheckpointerSettings(GVI_ENV=env, GVI_AUDIT_SIGNING_KEY_FILE=key_file,
                                                    **settings), key=key)


SERVICES: dict[str, Callable[..., FastAPI]] = {"intake": intake, "dashboard": dashboard,
                                               "checkpointer": checkpointer}


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "metrics-token"
    path.write_text(TOKEN + "\n")
    return path


def build(name: str, env: str, tmp_path: Path, **settings: object) -> FastAPI:
    if name == "checkpointer":
        settings["key_dir"] = tmp_path
    return SERVICES[name](env, **settings)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_outside_development_metrics_answer_only_the_token(name: str, tmp_path: Path,
                                                           token_file: Path) -> None:
    app = build(name, "production", tmp_path, GVI_METRICS_TOKEN_FILE=token_file)
    client = TestClient(app)  # no lifespan: nothing connects
    for headers in ({}, {"authorization": f"Bearer {TOKEN[:-1]}x"}, {"authorization": f"Basic {TOKEN}"},
                    {"authorization": "Bearer"}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, (headers, refused.text)
        assert "GVI_METRICS_TOKEN_FILE" in refused.json()["detail"]
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "# TYPE" not in refused.text
    answer = client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and "# TYPE gvi_" in answer.text
    assert client.get("/healthz").status_code == 200  # probes carry no token


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_outside_development_the_api_documentation_is_not_served_unless_asked_for(
        name: str, tmp_path: Path, token_file: Path) -> None:
    client = TestClient(build(name, "production", tmp_path, GVI_METRICS_TOKEN_FILE=token_file))
    for path in DOCS:
        assert client.get(path).status_code == 404, path
    asked = TestClient(build(name, "production", tmp_path / "asked", GVI_METRICS_TOKEN_FILE=token_file,
                             GVI_API_DOCS="true"))
    assert asked.get("/openapi.json").status_code == 200 and asked.get("/docs").status_code == 200


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_in_development_metrics_and_documentation_are_open(name: str, tmp_path: Path) -> None:
    client = TestClient(build(name, "development", tmp_path))
    assert client.get("/metrics").status_code == 200
    assert client.get("/openapi.json").status_code == 200 and client.get("/docs").status_code == 200
    off = TestClient(build(name, "development", tmp_path / "off", GVI_API_DOCS="false"))
    assert off.get("/openapi.json").status_code == 404


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_service_outside_development_refuses_to_start_without_a_good_token(name: str,
                                                                            tmp_path: Path) -> None:
    with pytest.raises(MetricsAccessError, match="GVI_METRICS_TOKEN_FILE is not set"):
        build(name, "production", tmp_path / "none")
    with pytest.raises(MetricsAccessError, match="cannot read GVI_METRICS_TOKEN_FILE"):
        build(name, "production", tmp_path / "missing", GVI_METRICS_TOKEN_FILE=tmp_path / "absent")
    short = tmp_path / "short"
    short.write_text("secret")
    with pytest.raises(MetricsAccessError, match="at least 32"):
        build(name, "production", tmp_path / "short-dir", GVI_METRICS_TOKEN_FILE=short)


def test_a_token_file_in_development_is_asked_for_there_too(tmp_path: Path, token_file: Path) -> None:
    client = TestClient(intake("development", GVI_METRICS_TOKEN_FILE=token_file))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"authorization": f"bearer {TOKEN}"}).status_code == 200


@pytest.mark.parametrize("module", ["services.sanctions.processor", "services.incidents",
                                    "services.dashboard", "services.audit.checkpointer"])
def test_without_the_token_file_a_production_service_says_so_in_one_line_and_exits_2(
        module: str, tmp_path: Path) -> None:
    key = generate_key_file(tmp_path / "signing-key.pem")
    assert key.key_id
    users = tmp_path / "users.toml"
    users.write_text(f'[[user]]\nname = "operator"\nrole = "operator"\n'
                     f'password_hash = "{hash_password(secrets.token_hex(16))}"\n')
    agencies = tmp_path / "agencies.toml"
    agencies.write_text(f'[[agency]]\nname = "police"\nsource = "/agencies/police"\n'
                        f'key_sha256 = ["{hash_key(secrets.token_hex(32))}"]\n'
                        f'may_post = ["gvi.incident.reported.v1"]\n')
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": os.getcwd(),
           "GVI_ENV": "production", "GVI_KAFKA_ALLOW_PLAINTEXT": "true",
           "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9", "GVI_PROCESSOR_DATA_DIR": str(tmp_path / "data"),
           "GVI_USERS_FILE": str(users), "GVI_AGENCIES_FILE": str(agencies),
           "GVI_AUDIT_SIGNING_KEY_FILE": str(tmp_path / "signing-key.pem")}
    done = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "cannot start" in last and "GVI_METRICS_TOKEN_FILE is not set" in last, done.stderr
