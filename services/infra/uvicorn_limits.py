"""uvicorn with the `GVI_HTTP_*` limits (`services.infra.server_limits` says what they bound).

uvicorn's httptools protocol has no header size limit and no header or body read timeout (its h11
protocol has a size limit only, and is slower); `BoundedHttpToolsProtocol` adds the three.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.infra.server_limits import ServerLimitSettings

__all__ = ["BoundedHttpToolsProtocol", "uvicorn_options"]


def _closing_answer(status: str, text: str) -> bytes:
    body = f"{text}\n".encode()
    return (f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


_REQUEST_TIMEOUT = _closing_answer("408 Request Timeout", "request body not received in time")
_HEADERS_TOO_LARGE = _closing_answer("431 Request Header Fields Too Large", "request headers too large")


class _HeadersTooLarge(Exception):
    """Raised from the parser's callbacks: httptools stops and raises `HttpParserCallbackError`, which
    uvicorn answers with `send_400_response`, answered 431 instead when this was the cause."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size limit and header and body read deadlines.

    The limits are class attributes: `uvicorn_options` makes a subclass per service."""

    max_header_bytes = 16 * 1024
    header_timeout = 10.0
    body_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._header_deadline: asyncio.TimerHandle | None = None
        self._body_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        if self._header_bytes <= self.max_header_bytes:
            super().send_400_response(msg)
            return
        self.logger.warning("Request headers larger than %d bytes refused.", self.max_header_bytes)
        self.transport.write(_HEADERS_TOO_LARGE)
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        if self._header_deadline is None:
            self._arm_header_deadline()

    def on_url(self, url: bytes) -> None:
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_header_deadline()
        super().on_headers_complete()
        self._body_deadline = self.loop.call_later(self.body_timeout, self._body_too_slow)

    def on_message_complete(self) -> None:
        self._cancel_body_deadline()
        super().on_message_complete()

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.max_header_bytes:
            raise _HeadersTooLarge

    def _arm_header_deadline(self) -> None:
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _cancel_body_deadline(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _disarm(self) -> None:
        self._cancel_header_deadline()
        self._cancel_body_deadline()

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.logger.info("Request headers not received within %.1f s: connection closed.",
                             self.header_timeout)
            self.transport.close()

    def _body_too_slow(self) -> None:
        self._body_deadline = None
        if self.transport.is_closing():
            return
        self.logger.info("Request body not received within %.1f s: connection closed.", self.body_timeout)
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            self.transport.write(_REQUEST_TIMEOUT)
        if cycle is not None:
            cycle.disconnected = True  # the handler waiting for the body reads a disconnect
            cycle.message_event.set()
        self.transport.close()


def uvicorn_options(limits: ServerLimitSettings) -> dict[str, Any]:
    """uvicorn's options for these limits (besides host, port and logging)."""
    protocol = type("ServiceHttpProtocol", (BoundedHttpToolsProtocol,), {
        "max_header_bytes": limits.http_max_header_bytes,
        "header_timeout": limits.http_header_timeout_seconds,
        "body_timeout": limits.http_body_timeout_seconds,
    })
    return {"http": protocol, "limit_concurrency": limits.http_max_connections,
            "timeout_keep_alive": limits.http_keep_alive_seconds}
