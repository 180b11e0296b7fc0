"""The reads half of the dashboard benchmark: readers in a closed loop over lean HTTP/1.1 keep-alive
connections (`_KeepAlive`), and the baseline they are measured against, a bare ASGI app serving the
same bytes (`static_app`, run by uvicorn in a process of its own by `static_server`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from devtools.broker import free_port

__all__ = ["readers", "static_app", "static_server"]


async def static_app(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                     send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """The baseline server: the same bytes as `/api/groups`, with nothing behind them."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(_STATIC_BODY)).encode())]})
    await send({"type": "http.response.body", "body": _STATIC_BODY})


_BODY_FILE = os.environ.get("GVI_BENCH_STATIC_BODY")
_STATIC_BODY = Path(_BODY_FILE).read_bytes() if _BODY_FILE else b""


class _KeepAlive(asyncio.Protocol):
    """One reader's HTTP/1.1 keep-alive connection: sends a prepared request, reads the answer by its
    Content-Length. A lean client: the readers share two cores with the server they measure."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._answer: asyncio.Future[int] | None = None
        self._status = 0
        self._length = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def ask(self, request: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._answer

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._length < 0:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).split(b"\r\n")
            self._status = int(head[0].split()[1])
            lengths = [int(h.split(b":", 1)[1]) for h in head[1:] if h.lower().startswith(b"content-length:")]
            if not lengths:
                self._fail(RuntimeError("an answer without Content-Length"))
                return
            del self._buffer[:end + 4]
            self._length = lengths[0]
        if len(self._buffer) >= self._length:
            del self._buffer[:self._length]
            self._length = -1
            if self._answer is not None and not self._answer.done():
                self._answer.set_result(self._status)

    def _fail(self, exc: BaseException) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._fail(exc or ConnectionError("the server closed the connection"))


async def readers(url: str, headers: dict[str, str], clients: int, n: int) -> tuple[float, list[float]]:
    """`clients` readers in a closed loop (each asks again when its answer is in) until `n` answers;
    the seconds it took and each answer's latency."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    request = (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    loop = asyncio.get_running_loop()
    connections = [(await loop.create_connection(_KeepAlive, parts.hostname, parts.port))[1]
                   for _ in range(clients)]
    latencies: list[float] = []
    remaining = iter(range(n))

    async def reader(connection: _KeepAlive) -> None:
        for _ in remaining:
            start = time.perf_counter()
            status = await connection.ask(request)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"{url} answered {status}")

    try:
        start = time.perf_counter()
        await asyncio.gather(*(reader(c) for c in connections))
        return time.perf_counter() - start, latencies
    finally:
        for connection in connections:
            if connection.transport is not None:
                connection.transport.close()


def static_server(body: bytes) -> tuple[subprocess.Popen[bytes], str, Path]:
    handle = tempfile.NamedTemporaryFile(prefix="gvi-bench-groups-", suffix=".json", delete=False)
    handle.write(body)
    handle.close()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "devtools.bench.readers:static_app",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                             "--no-access-log"], env={**os.environ, "GVI_BENCH_STATIC_BODY": handle.name})
    url = f"http://127.0.0.1:{port}/api/groups"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc, url, Path(handle.name)
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the baseline server did not start")
        time.sleep(0.2)
