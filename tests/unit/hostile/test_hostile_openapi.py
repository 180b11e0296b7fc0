"""The hostile-input tier, part 1: schemathesis against every service's published OpenAPI (issue 22).

Every operation of each intake's `/openapi.json` and of the dashboard's (its JSON API, health and
readiness) gets requests generated from the document: positive ones (what the schema allows) and
negative ones (what it forbids: wrong types, missing fields, bad headers), in-process against the app
with its fakes (`apps.py`). The run is bounded and repeatable: derandomized Hypothesis with a few
examples per operation (`EXAMPLES`), so the whole module takes well under a minute.

Each answer must be no 5xx (`not_a_server_error`) and one of the status codes the operation documents
(`status_code_conformance`). Each target is attacked with valid credentials (the police's development
key, which may post at every intake; an operator's and an analyst's bearer token) so that requests get
past the 401, and without any: then every operation except the public ones must answer 401. The
positive cases are not expected to be accepted: the OpenAPI document cannot say that binary mode needs
its `ce-*` headers or that a membership's `valid_until` follows its `valid_from`, and the intakes refuse
those with a documented 4xx.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from services.contracts import Service
from tests.unit.hostile.apps import bearer, dashboard_app, intake_app

EXAMPLES = {"credentials": 12, "anonymous": 6}
"""Generated cases per operation and generation mode, with and without credentials."""

PUBLIC = {"/healthz", "/readyz", "/api/token"}
"""Operations anyone may call; every other one answers 401 without credentials."""


@dataclass(frozen=True)
class Target:
    name: str
    build: Callable[[], FastAPI]
    credentials: Callable[[FastAPI], str | None]


def _intake(service: Service) -> Target:
    return Target(service.value, lambda: intake_app(service), lambda _: "dev-police-key")


TARGETS = [
    *(pytest.param(_intake(s), "credentials", id=f"{s.value}-police") for s in Service),
    *(pytest.param(_intake(s), "anonymous", id=f"{s.value}-anonymous") for s in Service),
    pytest.param(Target("dashboard", dashboard_app, lambda app: bearer(app, "operator", "operator")),
                 "credentials", id="dashboard-operator"),
    pytest.param(Target("dashboard", dashboard_app, lambda app: bearer(app, "analyst", "analyst")),
                 "credentials", id="dashboard-analyst"),
    pytest.param(Target("dashboard", dashboard_app, lambda _: None), "anonymous", id="dashboard-anonymous"),
]


def _attack(operation: APIOperation, mode: GenerationMode, examples: int, headers: dict[str, str],
            anonymous: bool) -> None:
    public = operation.path in PUBLIC

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    def attack(case: Case) -> None:
        if anonymous:
            case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        response = case.call_and_validate(headers=headers,
                                          checks=[not_a_server_error, status_code_conformance])
        if anonymous and not public:
            assert response.status_code == 401, (
                f"{operation.label} answered {response.status_code} without credentials:\n"
                f"{case.as_curl_command()}")

    try:
        attack()
    except Unsatisfiable:
        # Nothing to make invalid: no input, or only ones the schema leaves unconstrained (a free
        # string such as `/api/cases?status=`, which the route itself checks and answers 422).
        if mode is not GenerationMode.NEGATIVE:
            raise


@pytest.mark.parametrize(("target", "caller"), TARGETS)
def test_every_operation_answers_generated_requests_without_a_server_error(target: Target,
                                                                           caller: str) -> None:
    app = target.build()
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    token = target.credentials(app) if caller == "credentials" else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"{target.name} publishes no operation"
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _attack(operation, mode, EXAMPLES[caller], headers, anonymous=caller == "anonymous")
