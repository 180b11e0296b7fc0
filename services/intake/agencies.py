"""Agencies, their API keys and what their role lets them post.

The agencies file (TOML) is the single place where access is granted:

    [[agency]]
    name = "police"
    source = "/agencies/police"              # the only CloudEvents `source` this agency may use
    key_sha256 = ["<hex sha-256 of the key>"] # several during a key rotation
    may_post = ["gvi.incident.reported.v1", "gvi.sanction.recorded.v1:arrest", ...]

A `may_post` entry is an event type, allowing all of it, or `type:qualifier`, allowing only events
whose qualifier matches: the `kind` of a sanction or the `channel` of a warning. Keys are stored
only as SHA-256 digests; API keys are long random secrets, so a plain digest is enough to keep them
out of the file (these are not passwords). Development keys are public (README) and refused
outside development mode.
"""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from services.contracts import EVENT_TYPES, CloudEvent
from services.contracts.events import SanctionKind, SanctionRecorded, WarningChannel, WarningDelivered

__all__ = [
    "DEV_KEYS",
    "Agency",
    "AgencyDirectory",
    "ConfigError",
    "hash_key",
    "load_agencies",
    "qualifier_of",
]

DEV_KEYS = ("dev-police-key", "dev-prosecutor-key", "dev-probation-key", "dev-municipality-key",
            "dev-civil-key")
"""The documented development keys; a service outside development mode refuses to start with any."""


class ConfigError(ValueError):
    """The agencies file is unusable; the message says what to fix."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def qualifier_of(event: CloudEvent) -> str | None:
    """The part of an event that a role may be limited to: a sanction's kind, a warning's channel."""
    match event.data:
        case SanctionRecorded(kind=kind):
            return kind.value
        case WarningDelivered(channel=channel):
            return channel.value
        case _:
            return None


@dataclass(frozen=True, slots=True)
class Agency:
    name: str
    source: str
    may_post: frozenset[str]

    def may(self, event_type: str, qualifier: str | None) -> bool:
        return event_type in self.may_post or (
            qualifier is not None and f"{event_type}:{qualifier}" in self.may_post)


class AgencyDirectory:
    """Looks up the agency behind an API key."""

    def __init__(self, agencies_by_key_hash: Mapping[str, Agency]) -> None:
        self._by_hash = dict(agencies_by_key_hash)

    def authenticate(self, key: str) -> Agency | None:
        digest = hash_key(key)
        for known, agency in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                return agency
        return None

    @property
    def agencies(self) -> list[Agency]:
        return sorted(set(self._by_hash.values()), key=lambda a: a.name)

    def uses_dev_keys(self) -> bool:
        dev = {hash_key(k) for k in DEV_KEYS}
        return any(h in dev for h in self._by_hash)


_QUALIFIERS = {
    "gvi.sanction.recorded.v1": frozenset(k.value for k in SanctionKind),
    "gvi.warning.delivered.v1": frozenset(c.value for c in WarningChannel),
}


def _grants(entries: Iterable[object], agency: str) -> frozenset[str]:
    grants = set()
    for entry in entries:
        if not isinstance(entry, str):
            raise ConfigError(f"agency {agency!r}: may_post entries must be strings")
        event_type, _, qualifier = entry.partition(":")
        if event_type not in EVENT_TYPES:
            raise ConfigError(f"agency {agency!r}: unknown event type {event_type!r} in may_post")
        allowed = _QUALIFIERS.get(event_type, frozenset())
        if qualifier and qualifier not in allowed:
            raise ConfigError(f"agency {agency!r}: {entry!r} in may_post: "
                              + (f"the qualifier must be one of {sorted(allowed)}" if allowed
                                 else f"{event_type} takes no qualifier"))
        grants.add(entry)
    return frozenset(grants)


def load_agencies(path: Path) -> AgencyDirectory:
    """Read and check the agencies file; raises ConfigError naming the problem."""
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read agencies file {path}: {exc}") from exc
    by_hash: dict[str, Agency] = {}
    names: set[str] = set()
    for raw in config.get("agency", []):
        try:
            name, source, hashes, grants = raw["name"], raw["source"], raw["key_sha256"], raw["may_post"]
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: every [[agency]] needs name, source, key_sha256, may_post") from exc
        if name in names:
            raise ConfigError(f"{path}: agency {name!r} is defined twice")
        names.add(name)
        agency = Agency(name=name, source=source, may_post=_grants(grants, name))
        for digest in hashes:
            digest = str(digest).lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ConfigError(f"agency {name!r}: key_sha256 entries must be 64 hex digits")
            if digest in by_hash:
                raise ConfigError(f"agency {name!r}: a key is shared with {by_hash[digest].name!r}")
            by_hash[digest] = agency
    if not by_hash:
        raise ConfigError(f"{path}: no [[agency]] with a key is configured")
    return AgencyDirectory(by_hash)
