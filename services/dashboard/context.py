"""What every route of the dashboard shares, built once by `create_app`, and the request-level
helpers on top of it: who is asking (session cookie or bearer token), what their role lets them
see, and the access log that a read of a group or a brief must pass through first."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request

from services.contracts.access import AccessEntry, Resource
from services.dashboard.auth import Principal, Role, TokenKind, TokenSigner, UserDirectory
from services.dashboard.freshness import FeedFreshness
from services.dashboard.live import Hub, sse_message
from services.dashboard.login import LoginGate, LoginLimits
from services.dashboard.metrics import DashboardMetrics
from services.dashboard.ports import AccessLog, AccessLogUnavailable, AuditTrail
from services.dashboard.readmodel.access import AccessLogView
from services.dashboard.readmodel.model import ReadModel
from services.dashboard.readmodel.records import Changes
from services.dashboard.readmodel.sources import Domain
from services.dashboard.reveal import Reveal
from services.dashboard.settings import DashboardSettings
from services.privacy.keys import KeyRing
from services.privacy.store import MemoryKeyStore

__all__ = ["SESSION_COOKIE", "Dashboard", "Forbidden", "LoginRequired", "NotFound"]

SESSION_COOKIE = "gvi_session"
PRELOGIN_COOKIE = "gvi_prelogin"


class LoginRequired(Exception):
    """No valid session or token: 401 for the API, a redirect to the login page for people."""

    def __init__(self, message: str = "log in first: a session cookie or 'Authorization: Bearer <token>' "
                                      "from POST /api/token") -> None:
        super().__init__(message)


class Forbidden(Exception):
    """Authenticated, but the role does not allow this (403)."""


class NotFound(Exception):
    """No such group, call-in or page (404)."""


@dataclass
class Dashboard:
    settings: DashboardSettings
    model: ReadModel
    access_view: AccessLogView
    access_log: AccessLog
    directory: UserDirectory
    signer: TokenSigner
    hub: Hub
    metrics: DashboardMetrics
    clock: Callable[[], datetime]
    ready: Callable[[], Awaitable[bool]]
    audit: AuditTrail
    freshness: FeedFreshness = field(default_factory=FeedFreshness)
    ring: KeyRing = field(default_factory=lambda: MemoryKeyStore().ring)
    """The person keys, followed from `person-keys`: what reveals person references (`reveal`)."""
    login: LoginGate = field(init=False)
    _cache: dict[str, tuple[Any, bytes]] = field(default_factory=dict)
    _board_etag: tuple[bytes, str] | None = None

    def __post_init__(self) -> None:
        self.login = LoginGate(self.directory, LoginLimits.from_settings(self.settings), metrics=self.metrics,
                               clock=lambda: self.clock().timestamp())

    def reveal(self) -> Reveal:
        """Person references and evidence as a role that may see them is shown them."""
        return Reveal(self.ring, self.model.sources.sealed)

    # --- who is asking ---------------------------------------------------------------------------

    def principal(self, request: Request) -> Principal:
        now = self.clock()
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme:
            if scheme.lower() != "bearer" or not token.strip():
                raise LoginRequired("send 'Authorization: Bearer <token>' with a token from POST /api/token")
            claims = self.signer.claims(token.strip(), TokenKind.BEARER, now=now)
            if claims is None:
                raise LoginRequired("the bearer token is invalid or expired; get a new one from "
                                    "POST /api/token")
        else:
            cookie = request.cookies.get(SESSION_COOKIE)
            claims = self.signer.claims(cookie, TokenKind.SESSION, now=now) if cookie else None
            if claims is None:
                raise LoginRequired("your session has expired or you are not logged in; log in again"
                                    if cookie else "log in first")
        found = self.directory.current(*claims)
        if found is None:
            raise LoginRequired("this user no longer exists with that role; log in again")
        return found

    def session_token(self, principal: Principal) -> str:
        return self.signer.issue(principal, TokenKind.SESSION, now=self.clock(),
                                 lifetime=timedelta(minutes=self.settings.session_minutes))

    async def end_session(self, principal: Principal, session_token: str, *, via: str) -> None:
        """Logout: the access-log entry naming the session's id is written first, then the session
        is refused here at once, and at every other replica once it reads the entry. If the entry
        cannot be written (503) the session stays valid everywhere, so that the user's retry, at
        whichever replica, can still log out."""
        token_id = self.signer.token_id(session_token)
        if token_id is not None:
            try:
                await self.log_access(principal, Resource.SESSION, token_id, person_refs_shown=False,
                                      via=via)
            except AccessLogUnavailable as exc:
                raise AccessLogUnavailable("the logout could not be recorded in the access log, so "
                                           "other dashboard replicas would still accept this session; "
                                           "you are still logged in: log out again in a moment") from exc
        self.signer.revoke(session_token, now=self.clock())

    def session_ended(self, entry: AccessEntry) -> None:
        """A logout read from the access log (written by this replica or another)."""
        lifetime = timedelta(minutes=self.settings.session_minutes)
        self.signer.revoke_id(entry.resource_id, until=(entry.time + lifetime).timestamp(), now=self.clock())

    def bearer_token(self, principal: Principal) -> str:
        return self.signer.issue(principal, TokenKind.BEARER, now=self.clock(),
                                 lifetime=timedelta(minutes=self.settings.token_minutes))

    @staticmethod
    def require(principal: Principal, allowed: Callable[[Role], bool], what: str) -> None:
        if not allowed(principal.role):
            raise Forbidden(f"your role ({principal.role}) may not see {what}")

    # --- the access log --------------------------------------------------------------------------

    async def log_access(self, principal: Principal, resource: Resource, resource_id: str, *,
                         person_refs_shown: bool, via: str) -> None:
        """Write the access-log entry first; if it cannot be written the read is refused (503)."""
        entry = AccessEntry(access_id=str(uuid.uuid4()), time=self.clock(), user=principal.name,
                            role=principal.role.value, resource=resource, resource_id=resource_id,
                            person_refs_shown=person_refs_shown, via=via)
        try:
            await self.access_log.record(entry)
        except Exception:
            self.metrics.access_log.labels(resource.value, "failed").inc()
            raise
        self.metrics.access_log.labels(resource.value, "written").inc()

    # --- live ------------------------------------------------------------------------------------

    def feed_stale_since(self) -> datetime | None:
        """When the feed last heard from the broker, if that is too long ago (see `freshness`)."""
        since = self.freshness.stale_since(self.clock().timestamp())
        return None if since is None else datetime.fromtimestamp(since, UTC)

    def feed_contact(self) -> None:
        self.freshness.contact(self.clock().timestamp())

    def check_feed(self) -> None:
        """Tell every open page when the feed goes stale, and when it hears from the broker again."""
        change = self.freshness.change(self.clock().timestamp())
        if change is None:
            return
        stale, since = change
        if stale and since is not None:
            self.hub.publish(sse_message("stale", {"since": datetime.fromtimestamp(since, UTC).isoformat()}))
        else:
            self.hub.publish(sse_message("fresh", {}))

    def publish(self, changes: Changes, oldest_timestamp: float) -> None:
        """Turn what a run of records changed into stream events."""
        now = self.clock()
        for group_id in sorted(changes.groups):
            state = self.model.group(group_id)
            if state is None:
                self.hub.publish(sse_message("group", {"group_id": group_id, "removed": True}))
            else:
                self.hub.publish(sse_message("group", self.model.summary(state, now).model_dump_json()))
        for alert in changes.alerts:
            self.hub.publish(sse_message("alert", alert.model_dump_json()))
        domains = sorted({domain.value for domain, _ in changes.sources if domain is not Domain.WARNINGS})
        if domains:
            self.hub.publish(sse_message("sources", {"domains": domains}))
        self.metrics.change_seconds.observe(max(0.0, now.timestamp() - oldest_timestamp))

    def board(self, now: datetime) -> tuple[bytes, str]:
        """The groups board as `GET /api/groups` answers it (the same for every role: it holds no
        person reference), and its ETag; both kept until the board changes."""
        body = self.model.board_document(now)
        if self._board_etag is None or self._board_etag[0] is not body:
            self._board_etag = (body, f'"{hashlib.blake2b(body, digest_size=12).hexdigest()}"')
        return body, self._board_etag[1]

    def cached(self, name: str, key: Any, build: Callable[[], bytes]) -> bytes:
        """An answer built once per `key` (e.g. the read model's version): many readers, one build."""
        hit = self._cache.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        body = build()
        self._cache[name] = (key, body)
        return body
