"""The master key, the claim records of the `person-keys` topic it wraps, and the encryption both use.

A person first named in an event gets a **claim**: a random pseudonym, a random 256-bit data key
wrapped by the master key, the person reference encrypted with the data key, and a lookup (an HMAC
of the reference under a key derived from the master key) by which later events find the claim.
A claim names the master key that wrapped it by its fingerprint (`master`), so that after the
master key is rotated a reader knows which of the keys it holds unwraps it; claims written before
that field existed name none. `services.privacy.keys.KeyRing` holds the claims read from the topic.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "DEV_MASTER_KEY_FILE",
    "Claim",
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
        """Names the key in logs, on /readyz and in the claims it wraps, without revealing it."""

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
    """One record of the `person-keys` topic, as stored (`to_json`). `master` is the fingerprint of
    the master key that wrapped `wrapped_key` and computed `lookup` (None in a claim written before
    claims named it)."""

    pseudonym: str
    lookup: str
    wrapped_key: str
    sealed_ref: str
    created: str
    master: str | None = None

    @classmethod
    def new(cls, master: MasterKey, person_ref: str, now: datetime) -> tuple[Claim, bytes]:
        pseudonym, data_key = new_pseudonym(), secrets.token_bytes(32)
        claim = cls(pseudonym, master.lookup(person_ref), master.wrap(data_key, pseudonym),
                    encrypt(data_key, person_ref.encode(), pseudonym.encode()),
                    now.isoformat().replace("+00:00", "Z"), master.fingerprint)
        return claim, data_key

    def rewrapped(self, master: MasterKey, data_key: bytes, person_ref: str) -> Claim:
        """The same claim under another master key: the same pseudonym, data key, sealed reference
        and creation time; the lookup, the wrapped key and the fingerprint of `master`."""
        return dataclasses.replace(self, lookup=master.lookup(person_ref),
                                   wrapped_key=master.wrap(data_key, self.pseudonym),
                                   master=master.fingerprint)

    def to_json(self) -> bytes:
        fields = {"v": 1, "pseudonym": self.pseudonym, "lookup": self.lookup,
                  "wrapped_key": self.wrapped_key, "sealed_ref": self.sealed_ref, "created": self.created}
        if self.master is not None:
            fields["master"] = self.master
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, value: bytes) -> Claim:
        raw = json.loads(value)
        claim = cls(raw["pseudonym"], raw["lookup"], raw["wrapped_key"], raw["sealed_ref"], raw["created"])
        master = raw.get("master")
        return dataclasses.replace(claim, master=master) if isinstance(master, str) else claim
