"""Slow, large and many clients against a real server on a real socket (issue 22, item 4).

The intake app (fake publisher) under uvicorn with the options every uvicorn service runs with
(`services.infra.uvicorn_limits`), and the processor's aiohttp endpoints (`HttpService`), each with
small limits so a test takes a second or two.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn

from devtools.broker import free_port
from services.contracts import Service
from services.infra.operator_endpoints import MetricsAccess
from services.infra.server_limits import ServerLimitSettings
from services.infra.uvicorn_limits import uvicorn_options
from services.intake.api import Adapters, create_app
from services.intake.ledger import ReceiptLedger
from services.intake.publishing import FakePublisher
from services.intake.settings import IntakeSettings
from tests.examples import example_event

AGENCIES = "deploy/config/agencies.dev.toml"
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
MAX_CONNECTIONS = 4
LIMITS = {"GVI_HTTP_HEADER_TIMEOUT_SECONDS": HEADER_TIMEOUT, "GVI_HTTP_BODY_TIMEOUT_SECONDS": BODY_TIMEOUT,
          "GVI_HTTP_MAX_CONNECTIONS": MAX_CONNECTIONS, "GVI_HTTP_KEEP_ALIVE_SECONDS": 5}
SLACK = 2.0  # the bound plus scheduling on a busy 2-core machine


@pytest.fixture(scope="module")
def intake_port() -> Iterator[int]:
    settings = IntakeSettings(GVI_ENV="development", GVI_AGENCIES_FILE=AGENCIES, **LIMITS)
    publisher = FakePublisher()

    async def ready() -> bool:
        return True

    app = create_app(Service.INCIDENTS, settings, adapters=Adapters(publisher, ReceiptLedger(), ready))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, **uvicorn_options(settings)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=HEADER_TIMEOUT + BODY_TIMEOUT + 10)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket's timeout bounds it)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def event_body() -> bytes:
    return json.dumps(example_event("gvi.incident.reported.v1")).encode()


def post_head(length: int) -> bytes:
    return (b"POST /v1/events HTTP/1.1\r\nHost: intake\r\nAuthorization: Bearer dev-police-key\r\n"
            b"Content-Type: application/cloudevents+json\r\n"
            b"Content-Length: " + str(length).encode() + b"\r\n\r\n")


def test_a_complete_request_is_served_and_the_connection_kept(intake_port: int) -> None:
    body = event_body()
    with connect(intake_port) as sock:
        sock.sendall(post_head(len(body)) + body)
        first = sock.recv(65536)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: intake\r\n\r\n")
        second = sock.recv(65536)
    assert status_of(first) == 202, first
    assert status_of(second) == 200, second


def test_headers_trickled_a_byte_at_a_time_are_cut_off_at_the_header_timeout(intake_port: int) -> None:
    with connect(intake_port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: intake\r\n")
        closed = False
        for byte in b"X-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
                if time.monotonic() - started > HEADER_TIMEOUT + SLACK:
                    break
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        if not closed:
            sock.settimeout(0.5)
            with contextlib.suppress(TimeoutError):
                closed = read_until_closed(sock) == b""
        elapsed = time.monotonic() - started
    assert closed, "the slow client still holds its connection"
    assert HEADER_TIMEOUT * 0.8 <= elapsed <= HEADER_TIMEOUT + SLACK


def test_a_connection_that_never_sends_is_closed_at_the_header_timeout(intake_port: int) -> None:
    with connect(intake_port) as sock:
        started = time.monotonic()
        answer = read_until_closed(sock)
        elapsed = time.monotonic() - started
    assert answer == b""
    assert elapsed <= HEADER_TIMEOUT + SLACK


def test_a_body_shorter_than_its_content_length_is_408_at_the_body_timeout(intake_port: int) -> None:
    body = event_body()
    with connect(intake_port) as sock:
        sock.sendall(post_head(len(body) + 1000) + body)
        started = time.monotonic()
        answer = read_until_closed(sock)
        elapsed = time.monotonic() - started
    assert status_of(answer) == 408, answer
    assert BODY_TIMEOUT * 0.8 <= elapsed <= BODY_TIMEOUT + SLACK


def test_a_64_kb_header_is_refused(intake_port: int) -> None:
    with connect(intake_port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: intake\r\nX-Big: " + b"a" * 64 * 1024 + b"\r\n\r\n")
        answer = read_until_closed(sock)
    assert status_of(answer) == 431, answer[:200]


def test_many_headers_adding_up_to_64_kb_are_refused(intake_port: int) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 1000) for i in range(64))
    with connect(intake_port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: intake\r\n" + headers + b"\r\n")
        answer = read_until_closed(sock)
    assert status_of(answer) == 431, answer[:200]


def test_a_request_above_the_connection_limit_is_503(intake_port: int) -> None:
    idle = [connect(intake_port) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)
        with connect(intake_port) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: intake\r\n\r\n")
            answer = sock.recv(65536)
    finally:
        for sock in idle:
            sock.close()
    assert status_of(answer) == 503, answer
    time.sleep(0.2)
    with connect(intake_port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: intake\r\n\r\n")
        assert status_of(sock.recv(65536)) == 200


# The processor's endpoints: aiohttp, run by HttpService in the worker's loop.

class _Health:
    def started(self, now: float) -> None:
        pass

    def alive(self, now: float) -> bool:
        return True


@pytest.fixture(scope="module")
def processor_port() -> Iterator[int]:
    from services.sanctions.processor.service import HttpService
    from services.sanctions.processor.settings import ProcessorSettings

    port = free_port()
    settings = ProcessorSettings(GVI_ENV="development", GVI_PORT=port, **LIMITS)
    processor: Any = SimpleNamespace(health=_Health(), settings=settings)
    loop = asyncio.new_event_loop()
    service = HttpService(processor, MetricsAccess(None), loop=loop)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(service.on_start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(15), "the processor's HTTP service did not start"
    yield port
    asyncio.run_coroutine_threadsafe(service.on_stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def test_processor_serves_a_complete_request(processor_port: int) -> None:
    with connect(processor_port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n")
        assert status_of(sock.recv(65536)) == 200


def test_processor_cuts_off_trickled_headers(processor_port: int) -> None:
    with connect(processor_port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: p\r\n")
        closed = False
        while time.monotonic() - started < HEADER_TIMEOUT + SLACK:
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            sock.settimeout(0.1)
            with contextlib.suppress(TimeoutError):
                if sock.recv(65536) == b"":
                    closed = True
                    break
    assert closed, "the slow client still holds its connection"


def test_processor_refuses_a_64_kb_header(processor_port: int) -> None:
    with connect(processor_port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: p\r\nX-Big: " + b"a" * 64 * 1024 + b"\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer.split(b" ", 2)[1] in (b"400", b"431"), answer[:200]


def test_processor_answers_503_above_the_connection_limit(processor_port: int) -> None:
    idle = [connect(processor_port) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)
        with connect(processor_port) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n")
            answer = sock.recv(65536)
    finally:
        for sock in idle:
            sock.close()
    assert status_of(answer) == 503, answer


def test_every_http_service_takes_the_limits_from_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.audit.checkpointer import CheckpointerSettings
    from services.dashboard.settings import DashboardSettings
    from services.sanctions.processor.settings import ProcessorSettings

    for cls in (IntakeSettings, DashboardSettings, CheckpointerSettings, ProcessorSettings):
        assert issubclass(cls, ServerLimitSettings), cls
    monkeypatch.setenv("GVI_HTTP_MAX_CONNECTIONS", "77")
    monkeypatch.setenv("GVI_HTTP_MAX_HEADER_BYTES", "4096")
    options = uvicorn_options(IntakeSettings(GVI_AGENCIES_FILE=AGENCIES))
    assert options["limit_concurrency"] == 77
    assert options["http"].max_header_bytes == 4096


def test_the_runners_pass_the_limits_to_uvicorn(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from services.audit.checkpointer import service as checkpointer
    from services.dashboard.__main__ import server_options
    from services.dashboard.settings import DashboardSettings
    from services.intake import runner

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.setattr(checkpointer, "create_app", lambda settings: object())
    monkeypatch.setattr("services.intake.api.create_app", lambda service, settings: object())
    monkeypatch.setenv("GVI_ENV", "development")
    monkeypatch.setenv("GVI_AGENCIES_FILE", AGENCIES)
    monkeypatch.setenv("GVI_HTTP_MAX_CONNECTIONS", "77")
    assert runner.run(Service.INCIDENTS) == 0
    assert checkpointer.main() == 0
    users = tmp_path / "users.toml"
    users.write_text("")
    calls.append(server_options(DashboardSettings(GVI_USERS_FILE=users)))
    assert [c.get("limit_concurrency") for c in calls] == [77, 77, 77]
    assert all(c["http"].header_timeout == 10.0 for c in calls)
