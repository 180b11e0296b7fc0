"""The HTTP edge of an intake service: `POST /v1/events`, health, readiness, metrics.

A route turns a request into raw events, authenticates the agency and hands both to `Intake`;
it holds no rule. `create_app` is the composition root: it builds the Kafka adapters (or takes
fakes), loads the agencies file and refuses development keys outside development mode. (No
`from __future__ import annotations` here: FastAPI reads the route annotations, which refer to
local dependencies.)
"""


import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.contracts import Service, types_owned_by
from services.intake.agencies import Agency, AgencyDirectory, ConfigError, load_agencies
from services.intake.binding import Mode, parse_request
from services.intake.errors import BrokerUnavailable, IntakeError, PayloadTooLarge, Unauthenticated
from services.intake.intake import Intake
from services.intake.ledger import ReceiptLedger
from services.intake.metrics import IntakeMetrics
from services.intake.publishing import Publisher
from services.intake.settings import IntakeSettings

__all__ = ["Adapters", "create_app"]

log = logging.getLogger("gvi.intake")

_RETRY_AFTER_SECONDS = "5"


@dataclass
class Adapters:
    """The edges an intake needs; `create_app` builds Kafka ones unless given these (tests)."""

    publisher: Publisher
    ledger: ReceiptLedger
    ready: Callable[[], Awaitable[bool]]
    loaded: Callable[[], bool] = lambda: True
    """Whether the receipt ledger holds everything already in the log (until then, a repeat could
    not be recognised, so nothing is accepted)."""
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None


def _kafka_adapters(settings: IntakeSettings, service: Service) -> Adapters:
    from services.intake.kafka import KafkaPublisher, ReceiptFeed

    client_id = f"gvi-{service}"
    security = settings.kafka_security()
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers,
                               timeout_seconds=settings.publish_timeout_seconds, client_id=client_id,
                               lanes=settings.publish_lanes, security=security)
    ledger = ReceiptLedger()
    feed = ReceiptFeed(settings.kafka_bootstrap_servers, service.topic, ledger, client_id=client_id,
                       security=security)

    async def start() -> None:
        feed.start()
        await publisher.start()

    async def stop() -> None:
        await publisher.close()
        await feed.stop()

    async def ready() -> bool:
        return feed.caught_up.is_set() and await publisher.is_reachable()

    return Adapters(publisher, ledger, ready, feed.caught_up.is_set, start, stop)


class _ObserveRequests:
    """Counts and times every request by route template (a plain ASGI middleware: Starlette's
    BaseHTTPMiddleware costs a task group and a memory stream per request)."""

    def __init__(self, app: ASGIApp, *, metrics: IntakeMetrics, service: str) -> None:
        self._app = app
        self._metrics = metrics
        self._service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, observe)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self._metrics.http_requests.labels(self._service, method, template, str(status)).inc()
            self._metrics.http_seconds.labels(self._service, method, template).observe(
                time.perf_counter() - start)


def create_app(service: Service, settings: IntakeSettings, *, adapters: Adapters | None = None,
               directory: AgencyDirectory | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    if directory is None:
        directory = load_agencies(settings.agencies_file)
    if settings.env != "development" and directory.uses_dev_keys():
        raise ConfigError("a development API key is configured outside development mode: replace the "
                          "agencies file's keys (python -m services.intake.keys new) or set "
                          "GVI_ENV=development on a developer's machine")
    registry = CollectorRegistry()
    metrics = IntakeMetrics(registry, service.value)
    edges = adapters or _kafka_adapters(settings, service)
    intake = Intake(service=service, publisher=edges.publisher, ledger=edges.ledger, metrics=metrics,
                    clock=clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if edges.start is not None:
            await edges.start()
        log.info("%s intake started (%s mode)", service, settings.env)
        yield
        if edges.stop is not None:
            await edges.stop()

    owned = ", ".join(sorted(types_owned_by(service)))
    app = FastAPI(
        title=f"GVI {service} intake",
        version="1",
        lifespan=lifespan,
        description=f"Agency systems post CloudEvents here. This service takes: {owned}. "
                    "Authenticate with `Authorization: Bearer <agency key>`.",
    )

    async def agency(request: Request) -> Agency:  # async: no thread hop per request
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("send your agency's API key as 'Authorization: Bearer <key>'")
        found = directory.authenticate(key.strip())
        if found is None:
            raise Unauthenticated("unknown API key; ask the partnership's administrator for your "
                                  "agency's key")
        return found

    @app.exception_handler(IntakeError)
    async def refused(_: Request, exc: IntakeError) -> JSONResponse:
        if not exc.counted:  # refused before the events could be read (401, 413, 415, bad JSON)
            metrics.rejected([None], exc.code)
        headers = {"Retry-After": _RETRY_AFTER_SECONDS} if isinstance(exc, BrokerUnavailable) else None
        if isinstance(exc, Unauthenticated):
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    app.add_middleware(_ObserveRequests, metrics=metrics, service=service.value)

    @app.post("/v1/events", status_code=202, summary="Post one CloudEvent or a batch",
              responses={200: {"description": "Already accepted earlier: the original receipt"},
                         202: {"description": "Durably recorded in Kafka (acks=all)"},
                         400: {"description": "Type belongs to another service"},
                         401: {"description": "Missing or unknown API key"},
                         403: {"description": "Outside the agency's role, or a foreign source"},
                         409: {"description": "Id reused with different content"},
                         413: {"description": "Body or batch too large"},
                         415: {"description": "Not a CloudEvents content type"},
                         422: {"description": "Fields that break the contract, each with why"},
                         503: {"description": "Kafka unreachable: nothing published; retry"}})
    async def post_events(request: Request, who: Annotated[Agency, Depends(agency)]) -> JSONResponse:
        too_large = PayloadTooLarge(f"the body exceeds {settings.max_body_bytes} bytes; "
                                    "send smaller batches")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
            raise too_large
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise too_large
            chunks.append(chunk)
        body = b"".join(chunks)
        if not edges.loaded():
            raise BrokerUnavailable("the service is still loading the receipts of accepted events "
                                    "from the log; retry shortly")
        parsed = parse_request(request.headers, body, max_batch=settings.max_batch_events)
        batch = parsed.mode is Mode.BATCH
        outcome = await intake.submit(parsed.events, who, batch=batch)
        status = 202 if outcome.anything_new else 200
        answers = [{"status": "duplicate" if dup else "accepted", **r.public()}
                   for r, dup in zip(outcome.receipts, outcome.duplicate, strict=True)]
        if batch:
            return JSONResponse({"status": "accepted" if outcome.anything_new else "duplicate",
                                 "count": len(answers), "receipts": answers}, status_code=status)
        return JSONResponse(answers[0], status_code=status)

    @app.get("/healthz", summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: Kafka reachable and the receipt ledger loaded")
    async def readyz() -> JSONResponse:
        ok = await edges.ready()
        return JSONResponse({"status": "ready" if ok else "not ready"}, status_code=200 if ok else 503)

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def prometheus() -> Response:
        # Probed per scrape (at most once a second, a few seconds at worst while the broker is
        # away), so the broker-unreachable alert needs no separate readiness poller.
        metrics.broker_probed(await edges.publisher.is_reachable())
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.intake = intake
    app.state.registry = registry
    return app
