"""The login gate: what a password check may cost, and how often anyone may ask for one.

Issue 22 found that every attempt, even for an unknown user, ran scrypt (16 MiB) in a 40-thread pool
with no per-client limit, and that ten wrong passwords locked the real user out for 15 minutes. Now an
attempt (web login form or `POST /api/token`), in this order:

1. is refused at once, 429 with `Retry-After`, while its (address, user name) pair or its address is
   backing off: after `GVI_LOGIN_FREE_FAILURES_PAIR` failures of the pair, or
   `GVI_LOGIN_FREE_FAILURES_ADDRESS` failures from the address under any user names (spraying), the
   next attempt is due `GVI_LOGIN_BACKOFF_BASE_SECONDS * 2**k` seconds after the last failure, at most
   `GVI_LOGIN_BACKOFF_MAX_SECONDS` (`backoff.py`). Nothing is hashed.
2. is refused at once when its address already has `GVI_LOGIN_ADDRESS_IN_FLIGHT` attempts under way
   (429), or when `GVI_LOGIN_MAX_PENDING` attempts are under way in all (503): waiting attempts, and
   the memory they hold, stay bounded.
3. is slowed, never refused, when its user name has failed more than `GVI_LOGIN_FREE_FAILURES_USER`
   times from all addresses together: it waits that name's backoff, at most
   `GVI_LOGIN_USER_DELAY_MAX_SECONDS`, before it is checked. Whoever knows a user's name can make that
   user's logins slower, not impossible: the right password from an address that is not itself
   backing off gets through.
4. waits for one of `GVI_LOGIN_HASH_CONCURRENCY` hashing slots (a first-come, first-served semaphore),
   so at most that many scrypt runs (16 MiB each) are under way. An unknown user name is not hashed:
   it holds its slot for as long as a real check takes (a moving average of the last ones; until one
   has been timed, a throw-away hash is timed instead). Known and unknown names queue alike, hold a
   slot alike and are answered after the same time, so an answer's timing does not say whether a
   name exists; only the CPU spent differs, which an outsider could see only in other requests'
   latency.

Every failure counts against the pair, the address and the name (whether or not the name exists); a
success clears the pair and the name, not the address (a spraying address earns no fresh start by
knowing one password). When an address starts backing off the log says so, with the address (for the
ingress to block) but never the user name tried. Counts are per process: each replica keeps its own.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields

from starlette.concurrency import run_in_threadpool

from services.dashboard.auth import Principal, UserDirectory, hash_password
from services.dashboard.backoff import FailureBackoff
from services.dashboard.metrics import DashboardMetrics
from services.dashboard.settings import DashboardSettings

__all__ = ["LoginGate", "LoginLimits", "LoginRefused", "client_address"]

Sleep = Callable[[float], Awaitable[None]]
log = logging.getLogger("gvi.dashboard.login")


class LoginRefused(Exception):
    """An attempt that was not checked at all: `status` 429 (this address must wait) or 503 (too many
    attempts under way), `retry_after` in whole seconds, `reason` as counted in the metrics."""

    def __init__(self, message: str, *, status: int, retry_after: float, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = max(1, math.ceil(retry_after))
        self.reason = reason


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """The `GVI_LOGIN_*` settings (module docstring)."""

    hash_concurrency: int = 2
    max_pending: int = 64
    address_in_flight: int = 4
    free_failures_pair: int = 5
    free_failures_address: int = 20
    free_failures_user: int = 20
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 900.0
    user_delay_max_seconds: float = 10.0
    forget_seconds: float = 3600.0
    tracked_keys: int = 10_000

    @classmethod
    def from_settings(cls, settings: DashboardSettings) -> LoginLimits:
        return cls(**{f.name: getattr(settings, f"login_{f.name}") for f in fields(cls)})


def client_address(host: str | None) -> str:
    """The key an address is limited by: IPv4 as it is, IPv6 by its /64 (what one subscriber has)."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginGate:
    def __init__(self, directory: UserDirectory, limits: LoginLimits, *, metrics: DashboardMetrics,
                 clock: Callable[[], float], sleep: Sleep = asyncio.sleep) -> None:
        self._directory = directory
        self._limits = limits
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep

        def backoff(free: int, cap: float) -> FailureBackoff:
            return FailureBackoff(free=free, base=limits.backoff_base_seconds, cap=cap,
                                  forget_after=limits.forget_seconds, max_keys=limits.tracked_keys)

        self._pairs = backoff(limits.free_failures_pair, limits.backoff_max_seconds)
        self._addresses = backoff(limits.free_failures_address, limits.backoff_max_seconds)
        self._names = backoff(limits.free_failures_user, limits.user_delay_max_seconds)
        self._slots = asyncio.Semaphore(limits.hash_concurrency)
        self._pending = 0
        self._in_flight: dict[str, int] = {}
        self.check_seconds: float | None = None
        """How long a real password check takes (a moving average); an unknown name waits as long."""

    async def check(self, address: str, name: str, password: str) -> Principal | None:
        """The user if the password is theirs, None if not; LoginRefused if it was not checked."""
        now = self._clock()
        wait = max(self._pairs.wait((address, name), now), self._addresses.wait(address, now))
        if wait > 0:
            raise self._refused(LoginRefused(
                f"too many failed logins from your address: try again in {math.ceil(wait)} s",
                status=429, retry_after=wait, reason="rate_limited"))
        if self._in_flight.get(address, 0) >= self._limits.address_in_flight:
            raise self._refused(LoginRefused(
                "too many logins from your address at once: wait for the answers to those first",
                status=429, retry_after=1, reason="rate_limited"))
        if self._pending >= self._limits.max_pending:
            raise self._refused(LoginRefused(
                "too many logins are being checked right now: try again in a second",
                status=503, retry_after=1, reason="busy"))
        self._pending += 1
        self._in_flight[address] = self._in_flight.get(address, 0) + 1
        try:
            slowed = self._names.delay(name, now)
            if slowed > 0:
                await self._sleep(slowed)
            async with self._slots:
                found = await self._check(name, password)
        finally:
            self._pending -= 1
            self._in_flight[address] -= 1
            if not self._in_flight[address]:
                del self._in_flight[address]
        self._record(address, name, found)
        return found

    async def _check(self, name: str, password: str) -> Principal | None:
        started = time.perf_counter()
        if self._directory.knows(name):
            found = await run_in_threadpool(self._directory.verify, name, password)
        elif self.check_seconds is None:
            await run_in_threadpool(hash_password, password)
            found = None
        else:
            await self._sleep(self.check_seconds)
            return None
        elapsed = time.perf_counter() - started
        previous = self.check_seconds
        self.check_seconds = elapsed if previous is None else 0.8 * previous + 0.2 * elapsed
        return found

    def _record(self, address: str, name: str, found: Principal | None) -> None:
        now = self._clock()
        if found is None:
            for backoff, key, why in ((self._pairs, (address, name), "for one user name"),
                                      (self._addresses, address, "across user names")):
                before = backoff.delay(key, now)
                backoff.failed(key, now)
                if not before and backoff.delay(key, now):
                    log.warning("logins from %s now back off: repeated failures %s", address, why)
            self._names.failed(name, now)
            self._metrics.logins.labels("failure").inc()
            self._metrics.login_failures.labels("bad_credentials").inc()
        else:
            self._pairs.succeeded((address, name))
            self._names.succeeded(name)
            self._metrics.logins.labels("success").inc()

    def _refused(self, refusal: LoginRefused) -> LoginRefused:
        self._metrics.login_failures.labels(refusal.reason).inc()
        return refusal

    @property
    def pending(self) -> int:
        """Attempts under way (slowed, waiting for a slot or being checked)."""
        return self._pending
