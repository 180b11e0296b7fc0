"""The HTTP edge of an intake service: `POST /v1/events`, health, readiness, metrics.

A route turns a request into raw events, authenticates the agency and hands both to `Intake`;
it holds no rule. `create_app` is the composition root: it builds the Kafka adapters (or takes
fakes), loads the agencies file and refuses development keys outside development mode. (No
`from __future__ import annotations` here: FastAPI reads the route annotations, which refer to
local dependencies.)
"""


import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

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
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None


def _kafka_adapters(settings: IntakeSettings, service: Service) -> Adapters:
    import asyncio

    from services.intake.kafka import KafkaPublisher, ReceiptFeed

    client_id = f"gvi-{service}"
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers,
                               timeout_seconds=settings.publish_timeout_seconds, client_id=client_id)
    ledger = ReceiptLedger()
    feed = ReceiptFeed(settings.kafka_bootstrap_servers, service.topic, ledger, client_id=client_id)

    async def start() -> None:
        feed.start()
        await asyncio.get_running_loop().run_in_executor(None, _connect_with_retry, publisher)

    async def stop() -> None:
        await publisher.close()
        await asyncio.get_running_loop().run_in_executor(None, feed.stop)

    async def ready() -> bool:
        return feed.caught_up.is_set() and await publisher.is_reachable()

    return Adapters(publisher, ledger, ready, start, stop)


def _connect_with_retry(publisher: Any) -> None:
    """The service starts even if Kafka is not up yet; it is simply not ready until it is."""
    import time

    from kafka.errors import KafkaError

    while True:
        try:
            publisher.connect()
            return
        except KafkaError as exc:
            log.warning("Kafka not reachable yet (%s); retrying", type(exc).__name__)
            time.sleep(1)


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

    def agency(request: Request) -> Agency:
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
        headers = {"Retry-After": _RETRY_AFTER_SECONDS} if isinstance(exc, BrokerUnavailable) else None
        if isinstance(exc, Unauthenticated):
            headers = {"WWW-Authenticate": "Bearer"}
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        import time

        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", "unmatched")
        metrics.http_requests.labels(service.value, request.method, template,
                                     str(response.status_code)).inc()
        metrics.http_seconds.labels(service.value, request.method, template).observe(
            time.perf_counter() - start)
        return response

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
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > settings.max_body_bytes:
            raise PayloadTooLarge(f"the body exceeds {settings.max_body_bytes} bytes; send smaller batches")
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            raise PayloadTooLarge(f"the body exceeds {settings.max_body_bytes} bytes; send smaller batches")
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
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.intake = intake
    app.state.registry = registry
    return app
