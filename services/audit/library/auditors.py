"""Auditors, their keys and roles: who may run `gvi-audit`, and who may see personal data.

The auditors file (TOML, `GVI_AUDITORS_FILE`) is the one place where audit access is granted:

    [[auditor]]
    name = "internal-control"
    key_sha256 = ["<hex sha-256 of the key>"]   # several during a key rotation
    role = "auditor"                            # or "auditor-personal-data"

The auditor gives the key in `GVI_AUDITOR_KEY` (an environment variable, so it stays out of the
shell history and the process list). The entry's `name` is who the access log says exported: give
each person an entry and a key of their own. Every role may verify, replay, explain and export; only
`auditor-personal-data` exports person references as they are, every other export replaces them with
a keyed pseudonym. Keys are stored as SHA-256 digests, as agency keys are (long random secrets, not
passwords: make one with `python -m services.intake.keys new`). The development keys are public
(README) and refused outside development mode.
"""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from services.audit.library.errors import AccessDenied, ConfigError

__all__ = ["DEV_AUDITOR_KEYS", "Auditor", "AuditorDirectory", "Role", "load_auditors"]

DEV_AUDITOR_KEYS = ("dev-auditor-key", "dev-dpo-key")
"""The documented development keys; refused outside development mode."""


class Role(StrEnum):
    AUDITOR = "auditor"
    AUDITOR_PERSONAL_DATA = "auditor-personal-data"

    @property
    def sees_personal_data(self) -> bool:
        return self is Role.AUDITOR_PERSONAL_DATA


@dataclass(frozen=True, slots=True)
class Auditor:
    name: str
    role: Role


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class AuditorDirectory:
    def __init__(self, by_digest: dict[str, Auditor]) -> None:
        self._by_digest = dict(by_digest)

    def authenticate(self, key: str | None) -> Auditor:
        if not key:
            raise AccessDenied("no auditor key: set GVI_AUDITOR_KEY to your key")
        digest = _digest(key)
        for known, auditor in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                return auditor
        raise AccessDenied("the auditor key in GVI_AUDITOR_KEY is not in the auditors file (wrong key?)")

    def uses_dev_keys(self) -> bool:
        dev = {_digest(k) for k in DEV_AUDITOR_KEYS}
        return any(d in dev for d in self._by_digest)


def load_auditors(path: Path, *, development: bool) -> AuditorDirectory:
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the auditors file {path}: {exc}") from exc
    by_digest: dict[str, Auditor] = {}
    for raw in config.get("auditor", []):
        try:
            name, digests, role = raw["name"], raw["key_sha256"], Role(raw["role"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: every [[auditor]] needs name, key_sha256 and role (one of "
                              f"{', '.join(r.value for r in Role)})") from exc
        for digest in digests:
            digest = str(digest).lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ConfigError(f"auditor {name!r}: key_sha256 entries must be 64 hex digits")
            if digest in by_digest:
                raise ConfigError(f"auditor {name!r}: a key is shared with {by_digest[digest].name!r}")
            by_digest[digest] = Auditor(name, role)
    if not by_digest:
        raise ConfigError(f"{path}: no [[auditor]] with a key is configured")
    directory = AuditorDirectory(by_digest)
    if not development and directory.uses_dev_keys():
        raise ConfigError(f"{path} holds a development auditor key, refused outside development mode: "
                          "configure your own keys, or set GVI_ENV=development on a developer's machine")
    return directory
