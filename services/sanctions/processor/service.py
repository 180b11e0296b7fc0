"""The worker's two companions to the faust app: its HTTP endpoints and its exit from the publishers."""

from __future__ import annotations

import time
from typing import Any

from mode import Service

from services.infra.operator_endpoints import MetricsAccess
from services.infra.server_limits import aiohttp_options, connection_limit
from services.sanctions.processor.app import Processor

__all__ = ["HttpService", "PublishingService"]


class PublishingService(Service):
    """Stops publishing when the worker stops, once what it sent is acknowledged."""

    def __init__(self, processor: Processor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.processor = processor

    async def on_stop(self) -> None:
        await self.processor.leave_publishers()


class HttpService(Service):
    """/healthz (alive), /readyz (see `health`) and /metrics (with the bearer token `access` asks
    for), served from the worker's loop from the moment it starts, recovery included; within the
    `GVI_HTTP_*` limits (services/infra/server_limits.py)."""

    def __init__(self, processor: Processor, access: MetricsAccess, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.processor = processor
        self.access = access
        self._runner: Any = None

    async def on_start(self) -> None:
        from aiohttp import web

        health = self.processor.health
        health.started(time.monotonic())

        async def healthz(_: web.Request) -> web.Response:
            alive = health.alive(time.monotonic())
            return web.json_response({"status": "ok" if alive else "outputs stuck: restart"},
                                     status=200 if alive else 503)

        async def readyz(_: web.Request) -> web.Response:
            readiness = health.readiness(time.monotonic())
            return web.json_response(readiness.body(), status=200 if readiness.ready else 503)

        async def metrics(request: web.Request) -> web.Response:
            if not self.access.allows(request.headers.get("Authorization")):
                return web.json_response({"detail": MetricsAccess.REFUSAL}, status=401,
                                         headers=MetricsAccess.CHALLENGE)
            self.processor.metrics.health(health, time.monotonic())
            body, content_type = self.processor.metrics.exposition()
            return web.Response(body=body, headers={"Content-Type": content_type})

        settings = self.processor.settings
        app = web.Application(middlewares=[connection_limit(settings, self._open_connections)])
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/readyz", readyz)
        app.router.add_get("/metrics", metrics)
        self._runner = web.AppRunner(app, access_log=None, **aiohttp_options(settings))
        await self._runner.setup()
        await web.TCPSite(self._runner, settings.host, settings.port).start()

    def _open_connections(self) -> int:
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
