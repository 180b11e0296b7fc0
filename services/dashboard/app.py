"""The dashboard's composition root: `create_app` builds the read model, the Kafka edges (or takes
fakes), the users and the signer, refuses development users outside development mode, and wires the
JSON API, the pages, health, readiness and metrics. Nothing connects at import."""

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from services.dashboard.api import api_router, board_fast_path
from services.dashboard.auth import ConfigError, TokenSigner, UserDirectory, load_users
from services.dashboard.context import Dashboard, Forbidden, LoginRequired, NotFound
from services.dashboard.entry import DataEntryUnavailable, entry_router, triage_allowed
from services.dashboard.forms import entries_intake
from services.dashboard.live import Hub
from services.dashboard.metrics import SERVICE, DashboardMetrics
from services.dashboard.ports import (
    AccessLog,
    AccessLogUnavailable,
    AuditTrail,
    AuditTrailUnavailable,
    FixedAuditTrail,
)
from services.dashboard.posting import AgencyKey, HttpIntakePoster, IntakePoster, load_agency_keys
from services.dashboard.public import public_router
from services.dashboard.readmodel.access import AccessLogView
from services.dashboard.readmodel.model import ReadModel
from services.dashboard.readmodel.records import CONSUMED_TOPICS, RecordApplier
from services.dashboard.settings import DashboardSettings
from services.dashboard.web import Pages, web_router
from services.infra.http_metrics import ObserveRequests
from services.infra.operator_endpoints import MetricsAccess, api_docs_urls
from services.privacy.keys import KeyRing
from services.privacy.store import MemoryKeyStore

__all__ = ["Adapters", "create_app"]

log = logging.getLogger("gvi.dashboard")
STATIC = Path(__file__).parent / "static"


@dataclass
class Adapters:
    """The edges the dashboard needs; `create_app` builds Kafka ones unless given these (tests).
    Without `audit`, the audit pages say that the audit trail is not configured."""

    access_log: AccessLog
    ready: Callable[[], Awaitable[bool]]
    start: Callable[[Dashboard, RecordApplier], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    audit: AuditTrail | None = None
    intake: IntakePoster | None = None
    """How the data-entry forms reach the intakes; without it, over HTTP at the configured URLs."""
    keys: KeyRing = field(default_factory=lambda: MemoryKeyStore().ring)
    """The person keys that reveal person references to the roles that see them (`reveal.py`)."""


def _unconfigured_audit() -> AuditTrail:
    trail = FixedAuditTrail()
    trail.failure = AuditTrailUnavailable("the audit trail is not configured")
    return trail


def _kafka_adapters(settings: DashboardSettings) -> Adapters:
    from services.dashboard.audit import KafkaAuditTrail
    from services.dashboard.kafka import KafkaAccessLog, ReadModelFeed
    from services.privacy.kafka_keys import KafkaKeyStore

    security = settings.kafka_security()
    access_log = KafkaAccessLog(settings.kafka_bootstrap_servers,
                                timeout_seconds=settings.access_log_timeout_seconds, security=security)
    # Read only: the dashboard never claims a key nor shreds one.
    keys = KafkaKeyStore(settings.kafka_bootstrap_servers, settings.key_ring(),
                         client_id="gvi-dashboard", security=security)
    feeds: list[ReadModelFeed] = []

    async def start(dash: Dashboard, applier: RecordApplier) -> None:
        dash.freshness.stale_after = settings.stale_after_seconds
        dash.freshness.started(dash.clock().timestamp())
        feed = ReadModelFeed(settings.kafka_bootstrap_servers, CONSUMED_TOPICS, applier,
                             on_changes=dash.publish, metrics=dash.metrics, on_contact=dash.feed_contact,
                             on_tick=dash.check_feed, security=security)
        feeds.append(feed)
        keys.start()
        dash.metrics.watch_caught_up(caught_up=feed.caught_up.is_set,
                                     stale=lambda: dash.feed_stale_since() is not None)
        feed.start()

    async def stop() -> None:
        for feed in feeds:
            await feed.stop()
        await keys.stop()
        await access_log.close()

    async def ready() -> bool:  # and fresh: see /readyz
        return bool(feeds) and feeds[0].caught_up.is_set() and keys.caught_up.is_set()

    return Adapters(access_log, ready, start, stop, audit=KafkaAuditTrail(settings), keys=keys.ring)


def _data_entry_keys(settings: DashboardSettings, directory: UserDirectory) -> dict[str, AgencyKey] | None:
    """The agencies' keys for the data-entry forms; every agency a user enters for must have one."""
    entering = directory.agencies_entered_for()
    if settings.data_entry_keys_file is None:
        if entering:
            log.warning("users enter data for %s, but GVI_DATA_ENTRY_KEYS_FILE is not set: their forms "
                        "answer 503", ", ".join(sorted(entering)))
        return None
    keys = load_agency_keys(settings.data_entry_keys_file, development=settings.env == "development")
    missing = entering - set(keys)
    if missing:
        raise ConfigError(f"users enter data for {', '.join(sorted(missing))}, which "
                          f"{settings.data_entry_keys_file} holds no key for")
    for agency in keys.values():
        if "retraction" in agency.forms and entries_intake(agency.forms) is None:
            raise ConfigError(f"{settings.data_entry_keys_file}: agency {agency.name!r} is offered the "
                              "retraction form, which retracts its entries at the intake of its other "
                              "forms; give it other forms, all of one intake's types")
    return keys


_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
_SECURITY_HEADER_BYTES = [(name.lower().encode(), value.encode())
                          for name, value in _SECURITY_HEADERS.items()]


def create_app(settings: DashboardSettings, *, adapters: Adapters | None = None,
               directory: UserDirectory | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    directory = _users(settings, directory)
    keys = _data_entry_keys(settings, directory)
    if settings.session_secret is None:
        log.warning("GVI_SESSION_SECRET is not set: sessions and tokens end when this process does")
    secret = (settings.session_secret or secrets.token_urlsafe(32)).encode()
    access = MetricsAccess.configure(env=settings.env, token_file=settings.metrics_token_file)
    registry = CollectorRegistry()
    metrics = DashboardMetrics(registry)
    edges = adapters or _kafka_adapters(settings)
    poster = edges.intake or HttpIntakePoster(settings.intake_urls,
                                              timeout_seconds=settings.data_entry_timeout_seconds)
    model = ReadModel(stall_days=settings.stall_days)
    access_view = AccessLogView()
    dash = Dashboard(settings=settings, model=model, access_view=access_view, access_log=edges.access_log,
                     directory=directory, signer=TokenSigner(secret),
                     hub=Hub(on_drop=metrics.sse_dropped.inc), metrics=metrics, clock=clock,
                     ready=edges.ready, audit=edges.audit or _unconfigured_audit(), ring=edges.keys)
    applier = RecordApplier(model, access_view, on_logout=dash.session_ended)
    metrics.watch_feed(stale=lambda: dash.feed_stale_since() is not None,
                       last_contact=lambda: dash.freshness.last_contact)
    metrics.watch(clients=lambda: len(dash.hub), groups=lambda: len(model.groups()),
                  alerts=model.active_alert_count)

    app = FastAPI(title="GVI operations dashboard", version="1",
                  lifespan=_lifespan(settings, directory, edges, dash, applier, poster),
                  description="The live operations dashboard and the call-in brief. Scripts: get a "
                              "token from `POST /api/token` and send `Authorization: Bearer <token>`.",
                  **api_docs_urls(env=settings.env, api_docs=settings.api_docs))
    app.add_middleware(ObserveRequests, metrics=metrics.http, service=SERVICE, untimed={"/api/stream"},
                       headers=_SECURITY_HEADER_BYTES, fast={("GET", "/api/groups"): board_fast_path(dash)})
    app.include_router(api_router(dash))
    dash_pages = web_router(dash)
    dash_pages.may_triage = triage_allowed(keys)
    app.include_router(dash_pages.router)
    app.include_router(entry_router(dash, dash_pages, poster, keys))
    app.include_router(public_router(dash, dash_pages.env))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _operator_routes(app, dash, access, registry)
    _error_handlers(app, dash_pages)
    app.state.dashboard = dash
    app.state.applier = applier
    return app


def _users(settings: DashboardSettings, directory: UserDirectory | None) -> UserDirectory:
    """The users (from GVI_USERS_FILE unless given); the development ones in development mode only."""
    if directory is None:
        directory = load_users(settings.users_file)
    if settings.env != "development" and directory.uses_dev_credentials():
        raise ConfigError("the development users (or a development password) are configured outside "
                          "development mode: give GVI_USERS_FILE a users file of your own (hashes from "
                          "`python -m services.dashboard.users hash`) or set GVI_ENV=development on a "
                          "developer's machine")
    return directory


def _lifespan(settings: DashboardSettings, directory: UserDirectory, edges: Adapters, dash: Dashboard,
              applier: RecordApplier,
              poster: IntakePoster) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the edges (the feed, the keys) before the first request; close them after the last."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if edges.start is not None:
            await edges.start(dash, applier)
        log.info("dashboard started (%s mode, %d users)", settings.env, len(directory))
        yield
        dash.hub.close()
        await poster.close()
        if edges.stop is not None:
            await edges.stop()
    return lifespan


def _error_handlers(app: FastAPI, dash_pages: Pages) -> None:
    """What the app answers for the dashboard's exceptions and for an invalid request: JSON under
    `/api/`, else an error page (a login redirect when the page needs one)."""

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        from urllib.parse import quote
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=403)
        return dash_pages.error(request, 403, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=404)
        return dash_pages.error(request, 404, str(exc))

    @app.exception_handler(AccessLogUnavailable)
    async def access_log_down(request: Request, exc: AccessLogUnavailable) -> Response:
        headers = {"Retry-After": "5"}
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=503, headers=headers)
        return dash_pages.error(request, 503, str(exc), headers=headers)

    @app.exception_handler(DataEntryUnavailable)
    async def data_entry_unavailable(request: Request, exc: DataEntryUnavailable) -> Response:
        return dash_pages.error(request, 503, str(exc), headers={"Retry-After": "5"})

    @app.exception_handler(AuditTrailUnavailable)
    async def audit_trail_down(request: Request, exc: AuditTrailUnavailable) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "invalid request", "errors": errors}, status_code=422)
        return dash_pages.error(request, 422, "; ".join(f"{e['field']}: {e['message']}" for e in errors))


def _operator_routes(app: FastAPI, dash: Dashboard, access: MetricsAccess,
                     registry: CollectorRegistry) -> None:
    """Liveness, readiness and metrics."""

    @app.get("/healthz", summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: the read model and the person keys have caught up with "
                                "their topics and the feed hears from the broker (`?exclude=fresh`: "
                                "pages can be served, stale or not)")
    async def readyz(exclude: Annotated[list[Literal["fresh"]], Query()] = []) -> JSONResponse:  # noqa: B006
        # Kubernetes routes traffic by `?exclude=fresh` (as its own API server's `/readyz?exclude=`):
        # in a Kafka outage every replica is stale, and a page that says "stale since HH:MM" tells a
        # user more than the ingress's 503 would. Monitoring reads plain `/readyz`.
        stale_since = dash.feed_stale_since()
        if stale_since is not None and "fresh" not in exclude:
            return JSONResponse({"status": "stale", "since": stale_since.isoformat(),
                                 "reason": "the broker has not answered the dashboard's feed since then"},
                                status_code=503)
        ok = await dash.ready()  # the read model has caught up (once)
        body: dict[str, object] = {"status": "ready" if ok else "not ready"}
        if stale_since is not None:
            body["stale_since"] = stale_since.isoformat()
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        if not access.allows(request.headers.get("authorization")):
            return JSONResponse({"detail": MetricsAccess.REFUSAL}, status_code=401,
                                headers=MetricsAccess.CHALLENGE)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
