"""Every service's HTTP request metrics, and the ASGI middleware that records them.

`gvi_http_requests_total` (by service, method, route template and status) and
`gvi_http_request_duration_seconds` (by service, method and route template). The route is the
template a request matched (`/api/groups/{group_id}`), never the path with its ids, so that the
labels stay bounded and carry nothing personal; a request no route matched is `unmatched`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["LATENCY_BUCKETS", "FastPath", "HttpMetrics", "ObserveRequests"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

FastPath = Callable[[Scope], ASGIApp | None]
"""Answers a request without the app when it can (the answer is an ASGI app), or says None."""


class HttpMetrics:
    """The two HTTP metrics, defined against the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("gvi_http_requests_total", "HTTP requests answered.",
                                ["service", "method", "route", "status"], registry=registry)
        self.seconds = Histogram("gvi_http_request_duration_seconds", "HTTP request latency.",
                                 ["service", "method", "route"], buckets=LATENCY_BUCKETS,
                                 registry=registry)


class ObserveRequests:
    """Counts and times every HTTP request by route template (a plain ASGI middleware: Starlette's
    BaseHTTPMiddleware costs a task group and a memory stream per request).

    `untimed` route templates are counted but not timed (a stream lasts as long as its page is open).
    `headers` are added to every response that does not set them itself. `fast` answers a few
    (method, path) pairs before the app's routing when it can; such an answer is labelled with its
    path, which for those routes is their template."""

    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics, service: str,
                 untimed: Collection[str] = (), headers: Sequence[tuple[bytes, bytes]] = (),
                 fast: Mapping[tuple[str, str], FastPath] | None = None) -> None:
        self._app = app
        self._metrics = metrics
        self._service = service
        self._untimed = frozenset(untimed)
        self._headers = tuple(headers)
        self._fast = dict(fast or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        headers = self._headers

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if headers:
                    present = {name.lower() for name, _ in message.get("headers", [])}
                    message["headers"] = [*message.get("headers", []),
                                          *((name, value) for name, value in headers
                                            if name not in present)]
            await send(message)

        method = scope["method"]
        fast = self._fast.get((method, scope["path"])) if self._fast else None
        answer = None
        try:
            answer = fast(scope) if fast is not None else None
            if answer is not None:
                await answer(scope, receive, observe)
            else:
                await self._app(scope, receive, observe)
        finally:
            template = (scope["path"] if answer is not None
                        else getattr(scope.get("route"), "path", "unmatched"))
            self._metrics.requests.labels(self._service, method, template, str(status)).inc()
            if template not in self._untimed:
                self._metrics.seconds.labels(self._service, method, template).observe(
                    time.perf_counter() - start)
