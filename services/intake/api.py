"""The HTTP edge of an intake service: `POST /v1/events`, health, readiness, metrics.

A route turns a request into raw events, authenticates the agency and hands both to `Intake`;
it holds no rule. `create_app` is the composition root: it builds the Kafka adapters (or takes
fakes), loads the agencies file and refuses development keys outside development mode. (No
`from __future__ import annotations` here: FastAPI reads the route annotations, which refer to
local dependencies.)

`POST /v1/events` is the one hot path. It is served by a plain ASGI handler (`_PostEvents`) in
front of FastAPI, which would spend about as much CPU on its middleware, routing and dependency
machinery per request as the intake spends on the event itself. The route stays declared in
FastAPI, with the same handler behind it, so `/docs` and the OpenAPI schema describe it as before;
the answers, headers and metrics are the same on both ways in.
"""


import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from services.contracts import Service, types_owned_by
from services.contracts.openapi import intake_openapi
from services.infra.http_metrics import ObserveRequests
from services.infra.operator_endpoints import MetricsAccess, api_docs_urls
from services.intake.agencies import Agency, AgencyDirectory, ConfigError, load_agencies
from services.intake.binding import Mode, parse_request
from services.intake.errors import BrokerUnavailable, IntakeError, PayloadTooLarge, Unauthenticated
from services.intake.intake import Intake
from services.intake.ledger import ReceiptLedger
from services.intake.metrics import IntakeMetrics
from services.intake.publishing import Publisher
from services.intake.settings import IntakeSettings
from services.privacy.store import KeyStore, MemoryKeyStore

__all__ = ["Adapters", "create_app"]

log = logging.getLogger("gvi.intake")

_RETRY_AFTER_SECONDS = "5"
_EVENTS_PATH = "/v1/events"
_DISCONNECTED = "499"  # the metrics' status for a client gone before its request was read (nginx's)


@dataclass
class Adapters:
    """The edges an intake needs; `create_app` builds Kafka ones unless given these (tests)."""

    publisher: Publisher
    ledger: ReceiptLedger
    ready: Callable[[], Awaitable[bool]]
    loaded: Callable[[], bool] = lambda: True
    """Whether the receipt ledger holds everything already in the source topics (until then, a
    repeat or an id used at another intake could not be recognised, so nothing is accepted)."""
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    keys: KeyStore = field(default_factory=MemoryKeyStore)
    """The person keys events are sealed with (`services.privacy`)."""


def _kafka_adapters(settings: IntakeSettings, service: Service, metrics: IntakeMetrics) -> Adapters:
    from services.intake.kafka import KafkaPublisher, ReceiptFeed
    from services.privacy.kafka_keys import KafkaKeyStore

    client_id = f"gvi-{service}"
    security = settings.kafka_security()
    ledger = ReceiptLedger()
    # Every source topic, not only this service's: ids are unique per source across all intakes.
    feed = ReceiptFeed(settings.kafka_bootstrap_servers, [s.topic for s in Service], ledger,
                       client_id=client_id, security=security)
    keys = KafkaKeyStore(settings.kafka_bootstrap_servers, settings.key_ring(),
                         client_id=client_id, security=security,
                         timeout=settings.publish_timeout_seconds)
    publisher = KafkaPublisher(settings.kafka_bootstrap_servers,
                               timeout_seconds=settings.publish_timeout_seconds, client_id=client_id,
                               lanes=settings.publish_lanes,
                               concurrent=settings.publish_concurrent_transactions,
                               on_commit=metrics.committed, settle=feed.read_past_now,
                               security=security)

    async def start() -> None:
        feed.start()
        keys.start()
        await publisher.start()

    async def stop() -> None:
        await publisher.close()
        await keys.stop()
        await feed.stop()

    def loaded() -> bool:
        return feed.caught_up.is_set() and keys.caught_up.is_set()

    async def ready() -> bool:
        return loaded() and await publisher.is_reachable()

    return Adapters(publisher, ledger, ready, loaded, start, stop, keys)


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


def _json_answer(status: int, content: Any, headers: Mapping[str, str] | None = None) -> _Answer:
    """The bytes Starlette's JSONResponse would send."""
    body = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()
    extra = tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items())
    return _Answer(status, body, extra)


class _PostEvents:
    """`POST /v1/events`: authenticate, read the body, parse the binding, submit; every refusal
    becomes its status and JSON body here. Served as plain ASGI (`__call__`) and from FastAPI's
    route (`answer`)."""

    def __init__(self, *, intake: Intake, directory: AgencyDirectory, settings: IntakeSettings,
                 loaded: Callable[[], bool], metrics: IntakeMetrics, service: str) -> None:
        self._intake = intake
        self._directory = directory
        self._max_body = settings.max_body_bytes
        self._max_batch = settings.max_batch_events
        self._loaded = loaded
        self._metrics = metrics
        self._seconds = metrics.http.seconds.labels(service, "POST", _EVENTS_PATH)
        self._requests = metrics.http.requests
        self._by_status: dict[str, Counter] = {}
        self._service = service

    def _agency(self, headers: Mapping[str, str]) -> Agency:
        scheme, _, key = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthenticated("send your agency's API key as 'Authorization: Bearer <key>'")
        found = self._directory.authenticate(key.strip())
        if found is None:
            raise Unauthenticated("unknown API key; ask the partnership's administrator for your "
                                  "agency's key")
        return found

    async def _body(self, headers: Mapping[str, str], chunks: AsyncIterator[bytes]) -> bytes:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self._max_body:
            raise self._too_large()
        parts, size = [], 0
        async for chunk in chunks:
            size += len(chunk)
            if size > self._max_body:
                raise self._too_large()
            parts.append(chunk)
        return b"".join(parts)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the body exceeds {self._max_body} bytes; send smaller batches")

    async def answer(self, headers: Mapping[str, str], chunks: AsyncIterator[bytes]) -> _Answer:
        """`headers` must be case-insensitive; raises ClientDisconnect if the client went away."""
        try:
            who = self._agency(headers)
            body = await self._body(headers, chunks)
            if not self._loaded():
                raise BrokerUnavailable("the service is still loading the receipts of accepted events "
                                        "and the person keys from the log; retry shortly")
            parsed = parse_request(headers, body, max_batch=self._max_batch)
            batch = parsed.mode is Mode.BATCH
            outcome = await self._intake.submit(parsed.events, who, batch=batch)
        except IntakeError as exc:
            return self._refused(exc)
        status = 202 if outcome.anything_new else 200
        answers = [{"status": "duplicate" if dup else "accepted", **r.public()}
                   for r, dup in zip(outcome.receipts, outcome.duplicate, strict=True)]
        if batch:
            return _json_answer(status, {"status": "accepted" if outcome.anything_new else "duplicate",
                                         "count": len(answers), "receipts": answers})
        return _json_answer(status, answers[0])

    def _refused(self, exc: IntakeError) -> _Answer:
        if not exc.counted:  # refused before the events could be read (401, 413, 415, bad JSON)
            self._metrics.rejected([None], exc.code)
        headers = {"Retry-After": _RETRY_AFTER_SECONDS} if isinstance(exc, BrokerUnavailable) else None
        if isinstance(exc, Unauthenticated):
            headers = {"WWW-Authenticate": "Bearer"}
        return _json_answer(exc.status, exc.body(), headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        status = "500"

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    return

        try:
            try:
                answer = await self.answer(Headers(scope=scope), chunks())
            except ClientDisconnect:
                status = _DISCONNECTED
                return
            except Exception:
                # As Starlette's ServerErrorMiddleware: a plain 500, then the error goes on to the server.
                await send({"type": "http.response.start", "status": 500, "headers": [
                    (b"content-length", b"21"), (b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
                raise
            status = str(answer.status)
            await send({"type": "http.response.start", "status": answer.status, "headers": [
                (b"content-length", str(len(answer.body)).encode()),
                (b"content-type", b"application/json"), *answer.headers]})
            await send({"type": "http.response.body", "body": answer.body})
        finally:
            counter = self._by_status.get(status)
            if counter is None:
                counter = self._by_status[status] = self._requests.labels(
                    self._service, "POST", _EVENTS_PATH, status)
            counter.inc()
            self._seconds.observe(time.perf_counter() - start)


class _IntakeApp(FastAPI):
    """FastAPI with `POST /v1/events` answered by `_PostEvents` before FastAPI's own stack, and
    the contract's schemas (`contract_components`) in its OpenAPI document."""

    post_events: _PostEvents | None = None
    contract_components: dict[str, dict[str, Any]] | None = None

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = super().openapi()
            components = document.setdefault("components", {})
            for section, entries in (self.contract_components or {}).items():
                components.setdefault(section, {}).update(entries)
        return super().openapi()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (self.post_events is not None and scope["type"] == "http" and scope["path"] == _EVENTS_PATH
                and scope["method"] == "POST"):
            await self.post_events(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(service: Service, settings: IntakeSettings, *, adapters: Adapters | None = None,
               directory: AgencyDirectory | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    directory = _checked_directory(settings, directory)
    access = MetricsAccess.configure(env=settings.env, token_file=settings.metrics_token_file)
    registry = CollectorRegistry()
    metrics = IntakeMetrics(registry, service.value)
    edges = adapters or _kafka_adapters(settings, service, metrics)
    intake = Intake(service=service, publisher=edges.publisher, ledger=edges.ledger, keys=edges.keys,
                    metrics=metrics, clock=clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if edges.start is not None:
            await edges.start()
        log.info("%s intake started (%s mode)", service, settings.env)
        yield
        if edges.stop is not None:
            await edges.stop()

    owned = ", ".join(sorted(types_owned_by(service)))
    app = _IntakeApp(
        title=f"GVI {service} intake",
        version="1",
        lifespan=lifespan,
        description=f"Agency systems post CloudEvents here. This service takes: {owned}. "
                    "Authenticate with `Authorization: Bearer <agency key>`.",
        **api_docs_urls(env=settings.env, api_docs=settings.api_docs),
    )

    events = _PostEvents(intake=intake, directory=directory, settings=settings, loaded=edges.loaded,
                         metrics=metrics, service=service.value)
    app.post_events = events
    operation, app.contract_components = intake_openapi(types_owned_by(service),
                                                        max_batch=settings.max_batch_events)

    app.add_middleware(ObserveRequests, metrics=metrics.http, service=service.value)
    _add_events_route(app, events, operation)
    _add_operator_routes(app, edges, access, metrics, registry)

    app.state.intake = intake
    app.state.ledger = edges.ledger
    app.state.registry = registry
    return app


def _checked_directory(settings: IntakeSettings, directory: AgencyDirectory | None) -> AgencyDirectory:
    """`directory`, else the agencies file's; refused if it uses development keys outside
    development mode."""
    if directory is None:
        directory = load_agencies(settings.agencies_file)
    if settings.env != "development" and directory.uses_dev_keys():
        raise ConfigError("a development API key is configured outside development mode: replace the "
                          "agencies file's keys (python -m services.intake.keys new) or set "
                          "GVI_ENV=development on a developer's machine")
    return directory


def _add_events_route(app: FastAPI, events: _PostEvents, operation: dict[str, Any]) -> None:
    """`POST /v1/events` as FastAPI declares (and documents) it, answered by `events`."""

    @app.post("/v1/events", status_code=202, summary="Post one CloudEvent or a batch",
              responses={200: {"description": "Already accepted earlier: the original receipt"},
                         202: {"description": "Durably recorded in Kafka (acks=all)"},
                         400: {"description": "Type belongs to another service"},
                         401: {"description": "Missing or unknown API key"},
                         403: {"description": "Outside the agency's role, or a foreign source"},
                         409: {"description": "Id reused with different content"},
                         413: {"description": "Body or batch too large"},
                         415: {"description": "Not a CloudEvents content type, or a charset other "
                                                "than utf-8"},
                         422: {"description": "Not JSON in UTF-8, a repeated key, or fields that "
                                                "break the contract, each with why"},
                         503: {"description": "Kafka unreachable: nothing published; retry"}},
              openapi_extra=operation)
    async def post_events(request: Request) -> Response:
        # Reached only where the plain ASGI path does not match first (e.g. under a root path).
        answer = await events.answer(request.headers, request.stream())
        return Response(answer.body, status_code=answer.status, media_type="application/json",
                        headers={k.decode("latin-1"): v.decode("latin-1") for k, v in answer.headers})


def _add_operator_routes(app: FastAPI, edges: Adapters, access: MetricsAccess, metrics: IntakeMetrics,
                         registry: CollectorRegistry) -> None:
    """Liveness, readiness and the Prometheus metrics."""

    @app.get("/healthz", summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: Kafka reachable and the receipt ledger loaded")
    async def readyz() -> JSONResponse:
        ok = await edges.ready()
        return JSONResponse({"status": "ready" if ok else "not ready"}, status_code=200 if ok else 503)

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        if not access.allows(request.headers.get("authorization")):
            return JSONResponse({"detail": MetricsAccess.REFUSAL}, status_code=401,
                                headers=MetricsAccess.CHALLENGE)
        # Probed per scrape (at most once a second, a few seconds at worst while the broker is
        # away), so the broker-unreachable alert needs no separate readiness poller.
        metrics.broker_probed(await edges.publisher.is_reachable())
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
