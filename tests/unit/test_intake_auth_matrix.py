"""The intakes' auth matrix, generated from the role table (deploy/config/agencies.dev.toml).

Every development agency, every event type (sanctions per kind, warnings per channel) and every
intake: 202 when the agency's `may_post` names the type (or `type:qualifier`) and the intake takes
the type, 400 when another intake takes it (it names the right one), 403 otherwise. The expectation
is read from the TOML here, not from `services.intake.agencies`, so the two are checked against each
other. Retractions are left out: every agency may post them, and what they answer depends on the
event they name (tests/unit/test_intake.py).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.contracts import EVENT_TYPES, Service
from services.contracts.events import SanctionKind, WarningChannel
from services.contracts.topics import owner_of
from services.intake.agencies import DEV_KEYS
from services.intake.api import Adapters, create_app
from services.intake.ledger import ReceiptLedger
from services.intake.publishing import FakePublisher
from services.intake.settings import IntakeSettings
from tests.examples import example_event

AGENCIES = Path("deploy/config/agencies.dev.toml")
ROLES = tomllib.loads(AGENCIES.read_text())["agency"]
KEYS = {role["name"]: next(k for k in DEV_KEYS
                           if hashlib.sha256(k.encode()).hexdigest() in role["key_sha256"])
        for role in ROLES}
QUALIFIED = {"gvi.sanction.recorded.v1": ("kind", list(SanctionKind)),
             "gvi.warning.delivered.v1": ("channel", list(WarningChannel))}
RETRACTION = "gvi.event.retracted.v1"


def variants() -> Iterator[tuple[str, str | None]]:
    for event_type in sorted(EVENT_TYPES):
        if event_type == RETRACTION:
            continue
        if event_type in QUALIFIED:
            for qualifier in QUALIFIED[event_type][1]:
                yield event_type, qualifier.value
        else:
            yield event_type, None


def expected(role: dict[str, object], service: Service, event_type: str, qualifier: str | None) -> int:
    owner = owner_of(event_type)
    if owner is not None and owner != service:
        return 400
    may_post = set(role["may_post"])  # type: ignore[call-overload]
    allowed = event_type in may_post or (qualifier is not None and f"{event_type}:{qualifier}" in may_post)
    return 202 if allowed else 403


CASES = [pytest.param(role["name"], service, event_type, qualifier,
                      id=f"{role['name']}-{service.value}-{event_type}{':' + qualifier if qualifier else ''}")
         for role in ROLES for service in Service for event_type, qualifier in variants()]


@pytest.fixture(scope="module")
def clients() -> Iterator[dict[Service, TestClient]]:
    settings = IntakeSettings(GVI_ENV="development", GVI_AGENCIES_FILE=AGENCIES)
    publisher = FakePublisher()

    async def ready() -> bool:
        return True

    opened = {service: TestClient(create_app(service, settings,
                                             adapters=Adapters(publisher, ReceiptLedger(), ready)))
              for service in Service}
    for client in opened.values():
        client.__enter__()
    yield opened
    for client in opened.values():
        client.__exit__(None, None, None)


def test_the_matrix_covers_every_agency_and_event_type() -> None:
    assert {role["name"] for role in ROLES} == set(KEYS)
    assert len(CASES) == len(ROLES) * len(Service) * sum(1 for _ in variants())


@pytest.mark.parametrize(("agency", "service", "event_type", "qualifier"), CASES)
def test_agency_event_type_and_intake(clients: dict[Service, TestClient], agency: str, service: Service,
                                      event_type: str, qualifier: str | None) -> None:
    role = next(r for r in ROLES if r["name"] == agency)
    overrides = {QUALIFIED[event_type][0]: qualifier} if qualifier else {}
    event = example_event(event_type, source=role["source"], data_overrides=overrides)
    answer = clients[service].post("/v1/events", content=json.dumps(event), headers={
        "content-type": "application/cloudevents+json", "authorization": f"Bearer {KEYS[agency]}"})
    assert answer.status_code == expected(role, service, event_type, qualifier), answer.text
