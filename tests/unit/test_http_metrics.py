"""The HTTP request metrics every service records with `services.infra.http_metrics.ObserveRequests`:
counted by route template and status, timed unless the route is a stream, headers added where a
response has none of its own, fast answers labelled by their path."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from starlette.types import Scope

from services.infra.http_metrics import HttpMetrics, ObserveRequests


def _app(registry: CollectorRegistry, **options: object) -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> Response:
        return PlainTextResponse(thing_id, headers={"X-Frame-Options": "SAMEORIGIN"})

    @app.get("/stream")
    async def stream() -> Response:
        return PlainTextResponse("data")

    @app.get("/boom")
    async def boom() -> Response:
        raise RuntimeError("boom")

    app.add_middleware(ObserveRequests, metrics=HttpMetrics(registry), service="svc", **options)  # type: ignore[arg-type]
    return app


def _count(registry: CollectorRegistry, method: str, route: str, status: str) -> float | None:
    return registry.get_sample_value("gvi_http_requests_total",
                                     {"service": "svc", "method": method, "route": route, "status": status})


def _timed(registry: CollectorRegistry, method: str, route: str) -> float | None:
    return registry.get_sample_value("gvi_http_request_duration_seconds_count",
                                     {"service": "svc", "method": method, "route": route})


def test_requests_are_counted_and_timed_by_route_template_and_status() -> None:
    registry = CollectorRegistry()
    client = TestClient(_app(registry), raise_server_exceptions=False)
    assert client.get("/things/a").status_code == 200
    assert client.get("/things/b").status_code == 200
    assert client.get("/nowhere").status_code == 404
    assert client.get("/boom").status_code == 500
    assert _count(registry, "GET", "/things/{thing_id}", "200") == 2
    assert _timed(registry, "GET", "/things/{thing_id}") == 2
    assert _count(registry, "GET", "unmatched", "404") == 1
    assert _count(registry, "GET", "/boom", "500") == 1


def test_untimed_routes_are_counted_only() -> None:
    registry = CollectorRegistry()
    client = TestClient(_app(registry, untimed={"/stream"}))
    client.get("/stream")
    assert _count(registry, "GET", "/stream", "200") == 1
    assert _timed(registry, "GET", "/stream") is None


def test_headers_are_added_where_the_response_sets_none_of_its_own() -> None:
    client = TestClient(_app(CollectorRegistry(), headers=[(b"x-frame-options", b"DENY"),
                                                           (b"referrer-policy", b"same-origin")]))
    answer = client.get("/things/a")
    assert answer.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert answer.headers["referrer-policy"] == "same-origin"
    assert "referrer-policy" not in TestClient(_app(CollectorRegistry())).get("/things/a").headers


@pytest.mark.parametrize("answers", [True, False])
def test_a_fast_path_answers_before_the_app_or_leaves_it_to_the_app(answers: bool) -> None:
    registry = CollectorRegistry()

    def fast(scope: Scope) -> Response | None:
        return PlainTextResponse("fast") if answers else None

    client = TestClient(_app(registry, fast={("GET", "/things/x"): fast}))
    assert client.get("/things/x").text == ("fast" if answers else "x")
    route = "/things/x" if answers else "/things/{thing_id}"
    assert _count(registry, "GET", route, "200") == 1
    assert _timed(registry, "GET", route) == 1
