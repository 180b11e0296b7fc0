"""Login abuse (issue 22, items 1 and 2), over HTTP with the fakes: what an attempt costs (no scrypt
for an unknown name, at most the configured number at once), how a burst from one address is cut
short, how failures back off per (address, user name) and per address with 429 and `Retry-After`, and
that wrong passwords from elsewhere slow a real user down but never lock them out. Each client address
is a transport of its own; scrypt is watched (and slowed where overlap must show) by a spy."""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.dashboard.app import Adapters, create_app
from services.dashboard.backoff import FailureBackoff
from services.dashboard.login import client_address
from services.dashboard.ports import MemoryAccessLog
from services.dashboard.settings import DashboardSettings
from tests.unit.dashboard.test_dashboard_http import USERS, Clock

WRONG = "not-the-password"


class ScryptSpy:
    """hashlib.scrypt, counted: calls, and most runs at once; `delay` slows each run."""

    def __init__(self, real: Callable[..., bytes]) -> None:
        self._real = real
        self._lock = threading.Lock()
        self.delay = 0.0
        self.calls = self.running = self.most = 0

    def __call__(self, *args: Any, **kwargs: Any) -> bytes:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay)
            return self._real(*args, **kwargs)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def scrypt(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScryptSpy]:
    spy = ScryptSpy(hashlib.scrypt)
    monkeypatch.setattr(hashlib, "scrypt", spy)
    yield spy


async def _ready() -> bool:
    return True


def login_app(**settings: Any) -> tuple[FastAPI, Clock]:
    clock = Clock()
    app = create_app(DashboardSettings(GVI_ENV="development", GVI_USERS_FILE=USERS, **settings),
                     adapters=Adapters(access_log=MemoryAccessLog(), ready=_ready), clock=clock)
    return app, clock


async def token(app: FastAPI, address: str, user: str, password: str) -> httpx.Response:
    transport = httpx.ASGITransport(app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as client:
        return await client.post("/api/token", data={"username": user, "password": password})


async def metrics(app: FastAPI) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://dashboard") as client:
        return (await client.get("/metrics")).text


async def test_an_unknown_user_is_not_hashed_but_waits_for_a_slot_as_long_as_a_check(
        scrypt: ScryptSpy) -> None:
    scrypt.delay = 0.05
    app, _ = login_app(GVI_LOGIN_HASH_CONCURRENCY=1)
    assert (await token(app, "10.0.0.1", "analyst", WRONG)).status_code == 401
    hashed = scrypt.calls
    started = time.perf_counter()
    answers = await asyncio.gather(*(token(app, f"10.0.1.{i}", f"nobody-{i}", WRONG) for i in range(5)))
    elapsed = time.perf_counter() - started
    assert scrypt.calls == hashed                       # no scrypt for a name nobody has
    assert {(a.status_code, a.json()["detail"]) for a in answers} == {(401, "wrong user name or password")}
    check = app.state.dashboard.login.check_seconds
    assert check >= scrypt.delay and elapsed >= 5 * 0.9 * check   # one slot, held as long as a real check


async def test_at_most_the_configured_number_of_passwords_are_hashed_at_once(scrypt: ScryptSpy) -> None:
    scrypt.delay = 0.05
    app, _ = login_app()
    answers = await asyncio.gather(*(token(app, f"10.1.0.{i}", "analyst", WRONG) for i in range(24)))
    assert [a.status_code for a in answers] == [401] * 24
    assert scrypt.calls == 24 and scrypt.most == 2


async def test_a_burst_from_one_address_is_cut_short_and_told_when_to_retry(scrypt: ScryptSpy) -> None:
    scrypt.delay = 1.0                                  # the first attempts are still under way
    app, _ = login_app()
    answers = await asyncio.gather(*(token(app, "10.2.0.1", f"user-{i}", WRONG) for i in range(100)))
    codes = Counter(a.status_code for a in answers)
    assert codes == {401: 4, 429: 96}                   # GVI_LOGIN_ADDRESS_IN_FLIGHT
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.headers["retry-after"] == "1" and "your address at once" in refused.json()["detail"]
    assert scrypt.calls <= 4


async def test_failures_back_off_exponentially_per_address_and_user_and_across_names(
        scrypt: ScryptSpy, caplog: pytest.LogCaptureFixture) -> None:
    app, clock = login_app()
    for _ in range(5):                                  # GVI_LOGIN_FREE_FAILURES_PAIR
        assert (await token(app, "10.3.0.1", "analyst", WRONG)).status_code == 401
    waits = []
    for _ in range(4):
        refused = await token(app, "10.3.0.1", "analyst", "dev-analyst")   # not even checked
        assert refused.status_code == 429 and "try again in" in refused.json()["detail"]
        waits.append(int(refused.headers["retry-after"]))
        clock.now += timedelta(seconds=waits[-1])
        assert (await token(app, "10.3.0.1", "analyst", WRONG)).status_code == 401
    assert waits == [1, 2, 4, 8]
    assert (await token(app, "10.3.0.2", "analyst", "dev-analyst")).status_code == 200   # elsewhere: fine

    for i in range(20 - 9):                             # spraying names: GVI_LOGIN_FREE_FAILURES_ADDRESS
        assert (await token(app, "10.3.0.1", f"name-{i}", WRONG)).status_code == 401
    sprayed = await token(app, "10.3.0.1", "someone-else", WRONG)
    assert sprayed.status_code == 429 and sprayed.headers["retry-after"] == "1"

    assert [r.getMessage() for r in caplog.records if r.name == "gvi.dashboard.login"] == [
        "logins from 10.3.0.1 now back off: repeated failures for one user name",
        "logins from 10.3.0.1 now back off: repeated failures across user names"]
    text = await metrics(app)
    assert 'gvi_dashboard_login_failures_total{reason="bad_credentials"} 20.0' in text
    assert 'gvi_dashboard_login_failures_total{reason="rate_limited"} 5.0' in text
    login_lines = [line for line in text.splitlines() if "login" in line]
    assert not [line for line in login_lines if re.search(r"analyst|name-|10\.3\.", line)]


async def test_wrong_passwords_from_everywhere_slow_the_user_down_but_never_lock_them_out(
        scrypt: ScryptSpy) -> None:
    app, _ = login_app(GVI_LOGIN_FREE_FAILURES_USER=3, GVI_LOGIN_BACKOFF_BASE_SECONDS=0.1,
                       GVI_LOGIN_USER_DELAY_MAX_SECONDS=1)
    wrong = await asyncio.gather(*(token(app, f"10.4.0.{i}", "analyst", WRONG) for i in range(12)))
    assert [a.status_code for a in wrong] == [401] * 12     # more than the 10 that used to lock them out
    started = time.perf_counter()
    right = await token(app, "10.4.1.1", "analyst", "dev-analyst")
    assert right.status_code == 200 and time.perf_counter() - started >= 0.9   # slowed by at most 1 s
    started = time.perf_counter()                       # a success clears the name's slowing
    assert (await token(app, "10.4.1.1", "analyst", "dev-analyst")).status_code == 200
    assert time.perf_counter() - started < 0.9


async def test_too_many_attempts_under_way_are_refused_as_busy(scrypt: ScryptSpy) -> None:
    scrypt.delay = 1.0
    app, _ = login_app(GVI_LOGIN_MAX_PENDING=3)
    answers = await asyncio.gather(*(token(app, f"10.5.0.{i}", "analyst", WRONG) for i in range(6)))
    assert Counter(a.status_code for a in answers) == {401: 3, 503: 3}
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.headers["retry-after"] == "1" and "being checked" in busy.json()["detail"]
    assert 'gvi_dashboard_login_failures_total{reason="busy"} 3.0' in await metrics(app)


def test_the_login_page_says_when_to_try_again() -> None:
    from fastapi.testclient import TestClient

    app, _ = login_app(GVI_LOGIN_FREE_FAILURES_PAIR=1)
    with TestClient(app) as client:
        for status in (401, 429):
            page = client.get("/login")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert csrf is not None
            answer = client.post("/login", data={"username": "analyst", "password": WRONG,
                                                 "csrf_token": csrf.group(1), "next": "/"})
            assert answer.status_code == status
        assert answer.headers["retry-after"] == "1" and "try again in 1 s." in answer.text


def test_backoff_doubles_up_to_its_cap_forgets_and_stays_bounded() -> None:
    backoff = FailureBackoff(free=2, base=1.0, cap=5.0, forget_after=100.0, max_keys=3)
    for _ in range(2):
        backoff.failed("a", 0.0)
    assert backoff.wait("a", 0.0) == 1.0 and backoff.wait("a", 0.5) == 0.5 and backoff.wait("a", 1.0) == 0
    delays = []
    for _ in range(4):
        backoff.failed("a", 10.0)
        delays.append(backoff.delay("a", 10.0))
    assert delays == [2.0, 4.0, 5.0, 5.0]
    assert backoff.wait("a", 109.0) == 0 and backoff.delay("a", 110.0) == 0      # forgotten after 100 s
    for key in ("b", "c", "d", "e"):
        backoff.failed(key, 0.0)
    assert len(backoff) == 3
    backoff.succeeded("e")
    assert len(backoff) == 2


def test_an_ipv6_client_is_limited_by_its_64_prefix() -> None:
    assert client_address("2001:db8:1:2:aaaa::1") == client_address("2001:db8:1:2:bbbb::9") == (
        "2001:db8:1:2::/64")
    assert client_address("::ffff:192.0.2.7") == "192.0.2.7" and client_address("192.0.2.7") == "192.0.2.7"
    assert client_address(None) == "unknown"


async def test_behind_a_trusted_proxy_the_limits_follow_the_forwarded_address(scrypt: ScryptSpy) -> None:
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from services.dashboard.__main__ import server_options

    settings = DashboardSettings(GVI_USERS_FILE=USERS, GVI_FORWARDED_ALLOW_IPS="10.9.0.0/16")
    options = server_options(settings)
    assert options["proxy_headers"] is True and options["forwarded_allow_ips"] == "10.9.0.0/16"
    assert server_options(DashboardSettings(GVI_USERS_FILE=USERS))["proxy_headers"] is False
    app, _ = login_app()
    proxy = httpx.ASGITransport(ProxyHeadersMiddleware(app, trusted_hosts=options["forwarded_allow_ips"]),
                                client=("10.9.0.5", 40000))
    async with httpx.AsyncClient(transport=proxy, base_url="http://dashboard") as client:
        def attempt(client_ip: str) -> Any:
            return client.post("/api/token", data={"username": "analyst", "password": WRONG},
                               headers={"x-forwarded-for": client_ip})
        for _ in range(5):
            assert (await attempt("203.0.113.9")).status_code == 401
        assert (await attempt("203.0.113.9")).status_code == 429
        assert (await attempt("203.0.113.10")).status_code == 401      # another client of the proxy


def test_the_trusted_proxies_are_addresses_or_networks_and_never_everyone_in_production() -> None:
    from pydantic import ValidationError

    settings = DashboardSettings(GVI_USERS_FILE=USERS, GVI_FORWARDED_ALLOW_IPS=" 10.42.0.0/16, 2001:db8::1 ")
    assert settings.forwarded_allow_ips == "10.42.0.0/16,2001:db8::1"
    with pytest.raises(ValidationError, match=r"not an IP address or CIDR.*ingress controller"):
        DashboardSettings(GVI_USERS_FILE=USERS, GVI_FORWARDED_ALLOW_IPS="ingress-nginx")
    with pytest.raises(ValidationError, match="believes any client's X-Forwarded-For"):
        DashboardSettings(GVI_USERS_FILE=USERS, GVI_FORWARDED_ALLOW_IPS="*")
    assert DashboardSettings(GVI_ENV="development", GVI_USERS_FILE=USERS,
                             GVI_FORWARDED_ALLOW_IPS="*").forwarded_allow_ips == "*"
