"""Each person's data key, the master key that wraps it, and the key ring that holds them.

A person first named in an event gets a **claim**: a random pseudonym, a random 256-bit data key
wrapped by the master key, the person reference encrypted with the data key, and a lookup (an HMAC
of the reference under a key derived from the master key) by which later events find the claim.
Claims are records of the compacted `person-keys` topic, keyed by pseudonym; a tombstone destroys
one. Every reader applies the records in the topic's one order, and for each lookup **the first
live claim wins**, so two intakes that claimed the same new person at the same moment both end up
using the same pseudonym (the loser withdraws its claim). Nothing here talks to Kafka: the
`KeyRing` is a pure view of the records it is given (`services.privacy.kafka_keys` feeds it).

With a person's claims tombstoned (shredded), nothing links their pseudonym to them any more: the
lookup is gone, and the data key that decrypts their sealed values is gone from every reader and,
once the topic is cleaned, from the broker's disks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DEV_MASTER_KEY_FILE",
    "Claim",
    "KeyRing",
    "MasterKey",
    "MasterKeyError",
    "PersonKey",
    "b64decode",
    "b64encode",
    "decrypt",
    "encrypt",
    "new_pseudonym",
]

DEV_MASTER_KEY_FILE = Path("deploy/config/personal-data-master.dev.key")
"""The documented development master key; refused outside development mode."""

_NONCE = 12


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_pseudonym() -> str:
    return "psn-" + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


class MasterKeyError(ValueError):
    """A master key file that is missing, malformed or not allowed here."""


def encrypt(key: bytes, plain: bytes, aad: bytes) -> str:
    """AES-256-GCM with a random nonce; base64url of nonce and ciphertext."""
    nonce = os.urandom(_NONCE)
    return b64encode(nonce + AESGCM(key).encrypt(nonce, plain, aad))


def decrypt(key: bytes, sealed: str, aad: bytes) -> bytes:
    """The inverse of `encrypt`; raises `InvalidTag` for a wrong key, data or `aad`."""
    raw = b64decode(sealed)
    return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], aad)


class MasterKey:
    """The partnership's master key (32 random bytes, base64 in a file). Two keys are derived from
    it: one wraps data keys, one computes lookups. It never leaves the process."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise MasterKeyError("a master key is 32 bytes (base64 in its file)")
        self._wrapping = self._derive(secret, b"gvi person data key wrapping")
        self._lookup = self._derive(secret, b"gvi person lookup")
        self.fingerprint = hashlib.sha256(self._lookup).hexdigest()[:16]
        """Names the key in logs and on /readyz without revealing it."""

    @staticmethod
    def _derive(secret: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)

    @classmethod
    def generate(cls) -> str:
        """A new master key as its file holds it."""
        return base64.b64encode(secrets.token_bytes(32)).decode()

    @classmethod
    def from_file(cls, path: Path, *, development: bool) -> MasterKey:
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise MasterKeyError(f"cannot read the personal-data master key file {path}: "
                            f"{exc.strerror or exc}") from exc
        try:
            secret = base64.b64decode(text, validate=True)
        except ValueError as exc:
            raise MasterKeyError(f"{path} does not hold a base64 master key") from exc
        key = cls(secret)
        if not development and key.fingerprint == _dev_fingerprint():
            raise MasterKeyError(f"{path} holds the documented development master key; outside "
                            "development mode make one with `gvi-privacy new-master-key`")
        return key

    def lookup(self, person_ref: str) -> str:
        return b64encode(hmac.new(self._lookup, person_ref.encode(), hashlib.sha256).digest())

    def wrap(self, data_key: bytes, pseudonym: str) -> str:
        return encrypt(self._wrapping, data_key, pseudonym.encode())

    def unwrap(self, wrapped: str, pseudonym: str) -> bytes:
        return decrypt(self._wrapping, wrapped, pseudonym.encode())


def _dev_fingerprint() -> str | None:
    try:
        secret = base64.b64decode(DEV_MASTER_KEY_FILE.read_text().strip())
    except (OSError, ValueError):
        return None
    return MasterKey(secret).fingerprint if len(secret) == 32 else None


@dataclass(frozen=True, slots=True)
class PersonKey:
    """What sealing needs of one person: the pseudonym and the data key."""

    pseudonym: str
    data_key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Claim:
    """One record of the `person-keys` topic, as stored (`to_json`)."""

    pseudonym: str
    lookup: str
    wrapped_key: str
    sealed_ref: str
    created: str

    @classmethod
    def new(cls, master: MasterKey, person_ref: str, now: datetime) -> tuple[Claim, bytes]:
        pseudonym, data_key = new_pseudonym(), secrets.token_bytes(32)
        claim = cls(pseudonym, master.lookup(person_ref), master.wrap(data_key, pseudonym),
                    encrypt(data_key, person_ref.encode(), pseudonym.encode()),
                    now.isoformat().replace("+00:00", "Z"))
        return claim, data_key

    def to_json(self) -> bytes:
        return json.dumps({"v": 1, "pseudonym": self.pseudonym, "lookup": self.lookup,
                           "wrapped_key": self.wrapped_key, "sealed_ref": self.sealed_ref,
                           "created": self.created}, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, value: bytes) -> Claim:
        raw = json.loads(value)
        return cls(raw["pseudonym"], raw["lookup"], raw["wrapped_key"], raw["sealed_ref"], raw["created"])


class KeyRing:
    """The live claims, applied in the topic's order (`apply`), and what they answer: a person's
    pseudonym and key (`key_for`), a pseudonym's key (`data_key`) and reference (`reveal`)."""

    def __init__(self, master: MasterKey) -> None:
        self.master = master
        self._claims: dict[str, Claim] = {}  # pseudonym -> live claim
        self._live: dict[str, list[str]] = {}  # lookup -> its live claims' pseudonyms, first = winner
        self._keys: dict[str, bytes] = {}  # pseudonym -> unwrapped data key, as used
        self._shredded: set[str] = set()  # pseudonyms whose tombstone was applied

    def __len__(self) -> int:
        return len(self._live)

    def apply(self, pseudonym: str, value: bytes | None) -> None:
        """One record of the topic: a claim, or a tombstone (`value` None) that shreds it. A rival
        claim left standing when the winner is shredded becomes the winner: it holds no one's data
        yet (events sealed with a losing claim are never published)."""
        if value is None:
            self._shredded.add(pseudonym)
            self._keys.pop(pseudonym, None)
            claim = self._claims.pop(pseudonym, None)
            if claim is not None:
                live = self._live[claim.lookup]
                live.remove(pseudonym)
                if not live:
                    del self._live[claim.lookup]
            return
        try:
            claim = Claim.from_json(value)
        except (ValueError, KeyError, TypeError):
            return  # not a claim: skipped, as every reader skips it
        if claim.pseudonym != pseudonym or pseudonym in self._claims:
            return  # a malformed or repeated record changes nothing
        self._claims[pseudonym] = claim
        self._live.setdefault(claim.lookup, []).append(pseudonym)

    def lookup(self, person_ref: str) -> str:
        return self.master.lookup(person_ref)

    def key_for(self, person_ref: str) -> PersonKey | None:
        """The person's pseudonym and data key, if they have a live claim."""
        pseudonym = self.winner(self.master.lookup(person_ref))
        if pseudonym is None:
            return None
        key = self.data_key(pseudonym)
        return None if key is None else PersonKey(pseudonym, key)

    def winner(self, lookup: str) -> str | None:
        live = self._live.get(lookup)
        return live[0] if live else None

    def claims_of(self, pseudonyms: Iterable[str]) -> list[str]:
        """Every live claim of the persons of `pseudonyms` (winners and any rivals): what shredding
        them destroys."""
        claims = (self._claims.get(p) for p in pseudonyms)
        lookups = dict.fromkeys(claim.lookup for claim in claims if claim is not None)
        return [p for lookup in lookups for p in self._live[lookup]]

    def pseudonyms(self) -> list[str]:
        """The pseudonyms of every person with a live claim (winners only)."""
        return [live[0] for live in self._live.values()]

    def data_key(self, pseudonym: str) -> bytes | None:
        key = self._keys.get(pseudonym)
        if key is None:
            claim = self._claims.get(pseudonym)
            if claim is None:
                return None
            try:
                key = self.master.unwrap(claim.wrapped_key, pseudonym)
            except InvalidTag:
                return None  # wrapped by another master key: not ours to read
            self._keys[pseudonym] = key
        return key

    def was_shredded(self, pseudonym: str) -> bool:
        """Whether a tombstone of `pseudonym` was applied: erased, rather than not read yet."""
        return pseudonym in self._shredded

    def reveal(self, pseudonym: str) -> str | None:
        """The person reference behind a pseudonym; None once shredded (or never known)."""
        claim, key = self._claims.get(pseudonym), self.data_key(pseudonym)
        if claim is None or key is None:
            return None
        return decrypt(key, claim.sealed_ref, pseudonym.encode()).decode()
