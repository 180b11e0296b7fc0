"""The apps the hostile-input tier attacks, built as each service's composition root builds them but
with the fakes beside their ports: every intake on a `FakePublisher`, the dashboard on a memory
access log and a fixed audit trail, its read model fed the call-in scenario of the dashboard tests
(group `norra`, call-ins `ci-1` and `ci-2`), its data-entry forms on a `FakeIntakePoster` with the
development keys. Development mode, so `/openapi.json` is served and the
development agencies and users are accepted."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.contracts import Service
from services.dashboard import app as dashboard
from services.dashboard.auth import Principal, Role
from services.dashboard.context import Dashboard
from services.dashboard.ports import FixedAuditTrail, MemoryAccessLog
from services.dashboard.posting import FakeIntakePoster
from services.dashboard.settings import DashboardSettings
from services.intake import api as intake
from services.intake.ledger import ReceiptLedger
from services.intake.publishing import FakePublisher
from services.intake.settings import IntakeSettings
from tests.unit.dashboard.pipeline import Pipeline
from tests.unit.dashboard.test_dashboard_brief import scenario_events

__all__ = ["AGENCIES", "ENTRY_KEYS", "USERS", "bearer", "dashboard_app", "intake_app", "session"]

AGENCIES = Path("deploy/config/agencies.dev.toml")
USERS = Path("deploy/config/users.dev.toml")
ENTRY_KEYS = Path("deploy/config/data-entry-keys.dev.toml")
KNOWN_IDS = {"group_id": "norra", "call_in_id": "ci-2"}
"""Ids the scenario's read model holds, for each path parameter of the dashboard's routes."""


async def _ready() -> bool:
    return True


def intake_app(service: Service) -> FastAPI:
    settings = IntakeSettings(GVI_ENV="development", GVI_AGENCIES_FILE=AGENCIES)
    return intake.create_app(service, settings,
                             adapters=intake.Adapters(FakePublisher(), ReceiptLedger(), _ready))


def dashboard_app(**settings: object) -> FastAPI:
    """The dashboard with the scenario loaded. Its live hub is closed, so `GET /api/stream` answers
    `hello`-less and ends at once instead of streaming for ever (the authorisation in front of it is
    unchanged)."""
    config = DashboardSettings(GVI_ENV="development", GVI_USERS_FILE=USERS,
                               GVI_DATA_ENTRY_KEYS_FILE=ENTRY_KEYS, **settings)
    app = dashboard.create_app(config, adapters=dashboard.Adapters(
        access_log=MemoryAccessLog(), ready=_ready, audit=FixedAuditTrail(), intake=FakeIntakePoster()))
    Pipeline(applier=app.state.applier).post(*scenario_events())
    _dashboard(app).hub.close()
    return app


def _dashboard(app: FastAPI) -> Dashboard:
    found: Dashboard = app.state.dashboard
    return found


def bearer(app: FastAPI, user: str, role: str) -> str:
    """A bearer token as `POST /api/token` would give it (without running scrypt for each test)."""
    return _dashboard(app).bearer_token(Principal(user, Role(role)))


def session(app: FastAPI, user: str, role: str) -> str:
    """A session cookie's value as the login form would set it."""
    return _dashboard(app).session_token(Principal(user, Role(role)))
