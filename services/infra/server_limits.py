"""What one HTTP client may hold of a service: header size, read timeouts, connections (issue 22, item 4).

Every HTTP service takes the same `GVI_HTTP_*` settings (`ServerLimitSettings`, a base of its settings
class) and applies them to its server:

* the request line and headers together are at most `GVI_HTTP_MAX_HEADER_BYTES`, else 431 and the
  connection is closed;
* a request's headers must be complete `GVI_HTTP_HEADER_TIMEOUT_SECONDS` after the connection opened
  (the first request) or after its first byte (later requests on a kept-alive connection), else the
  connection is closed: a client trickling a header byte a second holds nothing for long;
* its body must be complete `GVI_HTTP_BODY_TIMEOUT_SECONDS` after its headers, else 408 (when no
  response was started) and the connection is closed: a `Content-Length` larger than the body sent
  does not hold the connection, or the request handler waiting for it, forever;
* an idle kept-alive connection is closed after `GVI_HTTP_KEEP_ALIVE_SECONDS`;
* with `GVI_HTTP_MAX_CONNECTIONS` connections open (or requests in progress), a request is answered
  503 at once: uvicorn's `limit_concurrency`, a bound on memory and on the threads behind the routes.

The uvicorn services (intakes, dashboard, audit checkpointer) get `services.infra.uvicorn_limits`:
uvicorn's httptools protocol, kept for its speed, with the header limit and the two read deadlines
added, which uvicorn lacks. The processor's aiohttp server gets `aiohttp_options`
and `connection_limit`: aiohttp bounds a header line by itself, closes a connection still waiting for
its request at the keep-alive deadline (armed when it opens), and drains an unread body for at most
its lingering time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings

__all__ = ["ServerLimitSettings", "aiohttp_options", "connection_limit"]


class ServerLimitSettings(BaseSettings):
    """The `GVI_HTTP_*` limits; a base of each HTTP service's settings class."""

    http_max_header_bytes: int = Field(
        16 * 1024, ge=1024, le=1024 * 1024, validation_alias="GVI_HTTP_MAX_HEADER_BYTES",
        description="Request line and headers together, in bytes; larger: 431.")
    http_header_timeout_seconds: float = Field(
        10.0, gt=0, le=300, validation_alias="GVI_HTTP_HEADER_TIMEOUT_SECONDS",
        description="A request's headers must be complete within this; else the connection is closed.")
    http_body_timeout_seconds: float = Field(
        30.0, gt=0, le=3600, validation_alias="GVI_HTTP_BODY_TIMEOUT_SECONDS",
        description="A request's body must be complete within this after its headers; else 408.")
    http_keep_alive_seconds: int = Field(
        5, ge=1, le=300, validation_alias="GVI_HTTP_KEEP_ALIVE_SECONDS",
        description="An idle kept-alive connection is closed after this.")
    http_max_connections: int = Field(
        500, ge=2, le=100_000, validation_alias="GVI_HTTP_MAX_CONNECTIONS",
        description="Open connections (or requests in progress) above which a request is answered 503.")


def aiohttp_options(limits: ServerLimitSettings) -> dict[str, Any]:
    """`web.AppRunner`'s options: aiohttp arms its keep-alive deadline when a connection opens and
    closes a connection still waiting for a complete request then, so that deadline is both the
    header timeout and the keep-alive one (the smaller of the two); an unread body is drained for at
    most the lingering time."""
    line = limits.http_max_header_bytes
    deadline = min(limits.http_header_timeout_seconds, limits.http_keep_alive_seconds)
    return {"keepalive_timeout": deadline, "max_line_size": line,
            "max_field_size": line, "lingering_time": limits.http_body_timeout_seconds}


Handler = Callable[[Any], Awaitable[Any]]


def connection_limit(limits: ServerLimitSettings, open_connections: Callable[[], int]) -> Any:
    """An aiohttp middleware answering 503 while `open_connections()` is at the limit (uvicorn's rule)."""
    from aiohttp import web

    @web.middleware
    async def limit(request: web.Request, handler: Handler) -> Any:
        if open_connections() >= limits.http_max_connections:
            return web.Response(status=503, text="Service Unavailable",
                                headers={"Connection": "close"})
        return await handler(request)

    return limit
