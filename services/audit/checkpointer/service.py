"""The checkpointer (`python -m services.audit.checkpointer`): keep the hash chains, publish signed
checkpoints.

For every partition of every source topic and of the access log (`GVI_AUDIT_ACCESS_LOG_TOPIC`) it
chains each committed record (see `services.audit.library.chain`), and every
`GVI_AUDIT_EVERY_RECORDS` records or `GVI_AUDIT_EVERY_SECONDS` seconds publishes a checkpoint signed
with the key in `GVI_AUDIT_SIGNING_KEY_FILE` to `audit-checkpoints`. After a restart it reads its last
checkpoints back (those signed by its own key or one in `GVI_AUDIT_PUBLIC_KEYS_FILE`) and continues
each chain from there. Every `GVI_AUDIT_VERIFY_INTERVAL_SECONDS` (after catching up) it verifies the
whole log, publishes the signed result and sets `gvi_audit_verification_ok`.

Serves GET /healthz, /readyz (Kafka answered in the last 15 s, chains resumed and caught up), /metrics
on `GVI_HOST`:`GVI_PORT` (default 127.0.0.1:8005).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from services.audit.checkpointer.chains import ChainSession
from services.audit.checkpointer.keeper import ChainKeeper
from services.audit.checkpointer.metrics import CheckpointerMetrics
from services.audit.checkpointer.settings import CheckpointerSettings
from services.audit.library import (
    AuditError,
    ConfigError,
    LogReader,
    PublicKeys,
    SigningKey,
    VerificationRecord,
    VerificationReport,
    generate_key_file,
    load_checkpoints,
    load_public_keys,
    load_signing_key,
    verify_log,
)
from services.infra.operator_endpoints import MetricsAccess, MetricsAccessError, api_docs_urls

__all__ = ["Checkpointer", "create_app", "load_key", "main"]

log = logging.getLogger("gvi.audit.checkpointer")

_READY_WITHIN_S = 15.0


def load_key(settings: CheckpointerSettings) -> SigningKey:
    """The signing key: the configured file; in development only, one generated under the data dir."""
    path = settings.signing_key_file
    if path is None:
        if not settings.development:
            raise ConfigError("GVI_AUDIT_SIGNING_KEY_FILE is not set: the checkpointer needs its Ed25519 "
                              "signing key (make one with `python -m services.audit.signing new FILE`)")
        path = settings.data_dir / "signing-key.pem"
        if not path.exists():
            key = generate_key_file(path)
            log.warning("development mode: generated the audit signing key %s (key id %s)", path, key.key_id)
            return key
    if not path.exists():
        raise ConfigError(f"the audit signing key {path} (GVI_AUDIT_SIGNING_KEY_FILE) does not exist")
    return load_signing_key(path)


class Checkpointer:
    """The chain loop and the periodic verification, each on its own thread (the chain thread runs
    an event loop per session: see `chains`)."""

    def __init__(self, settings: CheckpointerSettings, key: SigningKey, trusted: PublicKeys,
                 metrics: CheckpointerMetrics,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._settings = settings
        self._security = settings.kafka_security()
        self._key = key
        self._trusted = trusted.merged(PublicKeys.of(key.public))
        self._metrics = metrics
        self._clock = clock
        self._stop = threading.Event()
        self._caught_up = threading.Event()
        self._last_contact = 0.0
        self._session: ChainSession | None = None
        self._threads: list[threading.Thread] = []
        self.last_verification: VerificationRecord | None = None

    def start(self) -> None:
        self._threads = [threading.Thread(target=self._run_chains, name="audit-chains", daemon=True)]
        if self._settings.verify_interval_seconds > 0:
            self._threads.append(threading.Thread(target=self._run_verifications, name="audit-verify",
                                                  daemon=True))
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    @property
    def ready(self) -> bool:
        return self._caught_up.is_set() and time.monotonic() - self._last_contact < _READY_WITHIN_S

    # -- the chains -----------------------------------------------------------------------------------
    def _run_chains(self) -> None:
        while not self._stop.is_set():
            try:
                self._chain_session()
            except (KafkaError, AuditError, OSError, TimeoutError) as exc:
                log.warning("checkpointer interrupted (%s: %s); resuming from the last checkpoints",
                            type(exc).__name__, exc)
                self._stop.wait(2)

    def _chain_session(self) -> None:
        """Resume every chain from its last trusted checkpoint, then chain on (a `ChainSession` on
        an event loop of this thread) until stopped or broken."""
        settings = self._settings
        self._caught_up.clear()  # ready again once this session has resumed and caught up
        with LogReader(settings.kafka_bootstrap_servers, client_id="gvi-audit-checkpointer",
                       security=self._security) as reader:
            trusted = load_checkpoints(reader, settings.checkpoint_topic, self._trusted,
                                       settings.chained_topics, keep_segments=False)
            if trusted.verification is not None and self.last_verification is None:
                self._record_verification(trusted.verification)
            for problem in trusted.problems:
                log.warning("on %s: %s", settings.checkpoint_topic, problem)
        keeper = ChainKeeper(self._key, every_records=settings.every_records,
                             every_seconds=settings.every_seconds)
        session = ChainSession(settings, keeper, trusted.latest, self._metrics, self._clock,
                               on_contact=self._contact, on_caught_up=self._caught_up.set)
        self._session = session
        try:
            asyncio.run(session.run(self._stop))
        finally:
            self._session = None

    def _contact(self) -> None:
        self._last_contact = time.monotonic()

    # -- verification -----------------------------------------------------------------------------------
    def _run_verifications(self) -> None:
        while not self._stop.is_set():
            if not self._caught_up.wait(1):
                continue
            try:
                self.verify_now()
            except (KafkaError, AuditError, OSError, TimeoutError) as exc:
                log.warning("verification could not run (%s: %s); retrying in a minute",
                            type(exc).__name__, exc)
                self._stop.wait(60)
                continue
            self._stop.wait(self._settings.verify_interval_seconds)

    def verify_now(self) -> VerificationReport:
        settings = self._settings
        started = self._clock()
        with LogReader(settings.kafka_bootstrap_servers, client_id="gvi-audit-verify",
                       security=self._security) as reader:
            report = verify_log(reader, settings.chained_topics, settings.checkpoint_topic, self._trusted,
                                now=started, grace_seconds=settings.grace_seconds)
        unsigned = VerificationRecord(time=started, ok=report.ok, records=report.records,
                                      checkpoints=report.checkpoints,
                                      unverified_records=report.unverified_records,
                                      problems=tuple(str(p) for p in report.problems[:20]),
                                      key_id=self._key.key_id)
        record = unsigned.model_copy(update={"signature": self._key.sign(unsigned.signed_bytes())})
        self._record_verification(record)
        (log.info if report.ok else log.error)("verification: %s", report.summary())
        session = self._session
        if session is not None and session.connected:
            try:
                session.send_threadsafe(b"verification", record.to_json())
            except (KafkaError, TimeoutError, RuntimeError) as exc:  # RuntimeError: its loop just closed
                log.warning("could not publish the verification result (%s)", type(exc).__name__)
        return report

    def _record_verification(self, record: VerificationRecord) -> None:
        self.last_verification = record
        self._metrics.verification_ok.set(1 if record.ok else 0)
        self._metrics.verification_time.set(record.time.timestamp())


def create_app(settings: CheckpointerSettings, *, key: SigningKey | None = None) -> FastAPI:
    access = MetricsAccess.configure(env=settings.env, token_file=settings.metrics_token_file)
    key = key or load_key(settings)
    trusted = load_public_keys(settings.public_keys_file) if settings.public_keys_file else PublicKeys({})
    registry = CollectorRegistry()
    metrics = CheckpointerMetrics(registry)
    checkpointer = Checkpointer(settings, key, trusted, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        checkpointer.start()
        log.info("audit checkpointer started (%s mode, key id %s, topics %s)", settings.env, key.key_id,
                 ", ".join(settings.chained_topics))
        yield
        checkpointer.stop()

    app = FastAPI(title="GVI audit checkpointer", version="1", lifespan=lifespan,
                  description="Keeps signed hash chains over the source topics and the access log "
                              "(see docs/security.md).",
                  **api_docs_urls(env=settings.env, api_docs=settings.api_docs))

    @app.get("/healthz", summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: Kafka answered lately, chains resumed and caught up")
    async def readyz() -> JSONResponse:
        ok = checkpointer.ready
        return JSONResponse({"status": "ready" if ok else "not ready"}, status_code=200 if ok else 503)

    @app.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        if not access.allows(request.headers.get("authorization")):
            return JSONResponse({"detail": MetricsAccess.REFUSAL}, status_code=401,
                                headers=MetricsAccess.CHALLENGE)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.state.checkpointer = checkpointer
    app.state.registry = registry
    return app


def main() -> int:
    import uvicorn
    from pydantic import ValidationError

    from services.infra.uvicorn_limits import uvicorn_options

    try:
        settings = CheckpointerSettings()
        logging.basicConfig(level=settings.log_level,
                            format="%(asctime)s audit %(levelname)s %(name)s: %(message)s")
        if settings.log_level.upper() != "DEBUG":
            logging.getLogger("kafka").setLevel(logging.ERROR)
            logging.getLogger("aiokafka").setLevel(logging.ERROR)
        app = create_app(settings)
    except (ValidationError, ConfigError, MetricsAccessError) as exc:
        print(f"audit checkpointer: cannot start: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                access_log=False, proxy_headers=False, server_header=False, **uvicorn_options(settings))
    return 0
