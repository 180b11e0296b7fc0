"""Who may read the dashboard: users, their roles, passwords, sessions and bearer tokens.

The users file (TOML, `GVI_USERS_FILE`) is the single place where access is granted:

    [[user]]
    name = "a.lindqvist"
    role = "operator"                 # operator | analyst | auditor
    password_hash = "scrypt$16384$8$1$<salt>$<hash>"   # python -m services.dashboard.users hash
    enters_for = "municipality"       # optional: the agency this user enters data for (forms)

Roles (issue 4, "Who sees what"): `operator` sees everything but person references; `analyst` also
sees person references; `auditor` sees what an operator sees and also reaches the audit pages.
Reading is all a role grants. Entering data is granted per user, not per role: `enters_for` names the
agency (as in the agencies file) whose events the user may enter through the dashboard's forms
(`forms.py`), which post them to the intake with that agency's key; a user without it enters nothing.

Passwords are stored as scrypt hashes (standard library, salted, memory-hard). Sessions (browser
cookie) and bearer tokens (scripts) are HMAC-SHA256-signed, expiring claims of (user, role, kind);
a token is only honoured while its user still exists with the same role and was not revoked by a
logout. How often a password may be tried is the login gate's business (`login.py`). The development
users file holds the public development passwords; outside development mode the service refuses to
start with it, or with any user whose password is a development password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

__all__ = [
    "DEV_PASSWORDS",
    "ConfigError",
    "Principal",
    "Role",
    "TokenKind",
    "TokenSigner",
    "User",
    "UserDirectory",
    "check_new_password",
    "hash_password",
    "load_users",
    "verify_password",
]

DEV_PASSWORDS = {"operator": "dev-operator", "analyst": "dev-analyst", "auditor": "dev-auditor",
                 "coordinator": "dev-coordinator", "civil": "dev-civil", "police": "dev-police"}
"""The documented development users (name: password); refused outside development mode."""

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_MIN_PASSWORD = 12


class ConfigError(ValueError):
    """The users file (or the service's security settings) is unusable; the message says what to fix."""


class Role(StrEnum):
    OPERATOR = "operator"
    ANALYST = "analyst"
    AUDITOR = "auditor"

    @property
    def sees_person_refs(self) -> bool:
        return self is Role.ANALYST

    @property
    def reaches_audit_pages(self) -> bool:
        return self is Role.AUDITOR


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(stored: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected), maxmem=256 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    password_hash: str
    enters_for: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated user, as a request sees it. `enters_for` comes from the users file on every
    request (never from the token), so taking it away takes effect at once."""

    name: str
    role: Role
    enters_for: str | None = None


class UserDirectory:
    def __init__(self, users: list[User], *, development_only: bool = False) -> None:
        self._users = {u.name: u for u in users}
        self.development_only = development_only

    def knows(self, name: str) -> bool:
        """Whether a user has this name (cheap; the login gate keeps the answer from showing in the
        time a refusal takes)."""
        return name in self._users

    def verify(self, name: str, password: str) -> Principal | None:
        """The user if the password is theirs (one scrypt run; None at once for an unknown name)."""
        user = self._users.get(name)
        if user is None or not verify_password(user.password_hash, password):
            return None
        return Principal(user.name, user.role, user.enters_for)

    def current(self, name: str, role: str) -> Principal | None:
        """The user still exists with this role (a token of a removed or re-roled user is void)."""
        user = self._users.get(name)
        if user is None or user.role.value != role:
            return None
        return Principal(user.name, user.role, user.enters_for)

    def agencies_entered_for(self) -> set[str]:
        """The agencies some user enters data for."""
        return {u.enters_for for u in self._users.values() if u.enters_for is not None}

    def uses_dev_credentials(self) -> bool:
        """The file says it is for development, or a development user has its public password."""
        if self.development_only:
            return True
        return any(verify_password(self._users[name].password_hash, password)
                   for name, password in DEV_PASSWORDS.items() if name in self._users)

    def __len__(self) -> int:
        return len(self._users)


def load_users(path: Path) -> UserDirectory:
    """Read and check the users file; raises ConfigError naming the problem."""
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read users file {path}: {exc}") from exc
    users: list[User] = []
    for raw in config.get("user", []):
        try:
            name, role, password_hash = str(raw["name"]), raw["role"], str(raw["password_hash"])
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: every [[user]] needs name, role, password_hash") from exc
        if role not in Role.__members__.values():
            raise ConfigError(f"{path}: user {name!r}: role must be one of {', '.join(Role)}")
        if not password_hash.startswith("scrypt$") or password_hash.count("$") != 5:
            raise ConfigError(f"{path}: user {name!r}: password_hash must be made by "
                              "`python -m services.dashboard.users hash`")
        if any(u.name == name for u in users):
            raise ConfigError(f"{path}: user {name!r} is defined twice")
        enters_for = raw.get("enters_for")
        if enters_for is not None and (not isinstance(enters_for, str)
                                       or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", enters_for)):
            raise ConfigError(f"{path}: user {name!r}: enters_for must name an agency as the agencies "
                              "file does (e.g. \"municipality\")")
        users.append(User(name, Role(role), password_hash, enters_for))
    if not users:
        raise ConfigError(f"{path}: no [[user]] is configured")
    return UserDirectory(users, development_only=bool(config.get("development_only", False)))


class TokenKind(StrEnum):
    SESSION = "session"
    BEARER = "bearer"


class TokenSigner:
    """Signed, expiring claims. A session token is never accepted as a bearer token or the reverse.

    Every token carries a random id (`n`). `revoke` (logout) puts that id on a revocation list kept
    until the token would have expired anyway; a revoked token is refused from then on. The list is in
    this process's memory; a logout reaches the other replicas through the access log, whose entry
    names the id (`revoke_id`, as the feed applies it; docs/security.md, Sessions)."""

    _REMEMBERED = 4096

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._verified: dict[str, tuple[str, str, str, int, str]] = {}
        self._revoked: dict[str, int] = {}

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._secret, body.encode(), hashlib.sha256).digest())

    def issue(self, principal: Principal, kind: TokenKind, *, now: datetime, lifetime: timedelta) -> str:
        claims = {"u": principal.name, "r": principal.role.value, "k": kind.value,
                  "exp": int((now + lifetime).timestamp()), "n": secrets.token_urlsafe(8)}
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._sign(body)}"

    def claims(self, token: str, kind: TokenKind, *, now: datetime) -> tuple[str, str] | None:
        """(user name, role) of a valid, unexpired token of `kind`; None otherwise. The claims of a
        token whose signature was checked are remembered (a script or page sends the same token with
        every request); its kind and expiry are checked on every call."""
        found = self._verified.get(token)
        if found is None:
            found = self._verify(token)
            if found is None:
                return None
            if len(self._verified) >= self._REMEMBERED:
                self._verified.clear()
            self._verified[token] = found
        name, role, token_kind, expires, token_id = found
        if token_kind != kind.value or now.timestamp() >= expires or token_id in self._revoked:
            return None
        return name, role

    def token_id(self, token: str) -> str | None:
        """The random id of a validly signed token (not a credential: it names the token)."""
        found = self._verify(token)
        return None if found is None else found[4]

    def revoke(self, token: str, *, now: datetime) -> None:
        """Refuse this (validly signed) token from now on; forget revocations of expired tokens."""
        found = self._verify(token)
        if found is not None:
            self.revoke_id(found[4], until=found[3], now=now)

    def revoke_id(self, token_id: str, *, until: float, now: datetime) -> None:
        """Refuse the token with this id until `until` (a timestamp by which it has expired anyway)."""
        stamp = now.timestamp()
        self._revoked = {i: exp for i, exp in self._revoked.items() if exp > stamp}
        if until > stamp:
            self._revoked[token_id] = max(int(until), self._revoked.get(token_id, 0))

    def _verify(self, token: str) -> tuple[str, str, str, int, str] | None:
        body, _, signature = token.partition(".")
        if not body or not signature or not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            claims = json.loads(_unb64(body))
            return str(claims["u"]), str(claims["r"]), str(claims["k"]), int(claims["exp"]), str(claims["n"])
        except (ValueError, KeyError, TypeError):
            return None

    def csrf(self, session_token: str) -> str:
        """The CSRF token that belongs to a session (or to a pre-login nonce)."""
        return _b64(hmac.new(self._secret, b"csrf|" + session_token.encode(), hashlib.sha256).digest())


def check_new_password(password: str) -> None:
    if len(password) < _MIN_PASSWORD:
        raise ConfigError(f"a password needs at least {_MIN_PASSWORD} characters")
    if password in DEV_PASSWORDS.values():
        raise ConfigError("that is a public development password")
