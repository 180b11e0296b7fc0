"""The audit signing key (Ed25519): where it lives, how it signs, how auditors name the public keys.

The private key is a PEM (PKCS #8, unencrypted) file outside Kafka, readable only by the
checkpointer (`GVI_AUDIT_SIGNING_KEY_FILE`). Auditors configure the *public* keys in a text file,
one per line, `ed25519 <base64 of the 32-byte raw key>` (text after `#` is a comment), or as PEM
public keys (`openssl pkey -pubout`); several during a rotation, since old checkpoints stay signed
by the old key. A key is named by its key id, the first 16 hex digits of the SHA-256 of its raw
public bytes. `openssl genpkey -algorithm ed25519` makes a private key file this module reads.

    python -m services.audit.library.signing new PRIVATE_KEY_FILE  # writes the key, prints the public line
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.audit.library.errors import ConfigError

__all__ = ["PublicKeys", "SigningKey", "generate_key_file", "key_id", "load_public_keys", "load_signing_key",
           "public_line"]


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_line(public: Ed25519PublicKey) -> str:
    """The line for the auditors' public keys file."""
    return f"ed25519 {base64.b64encode(_raw(public)).decode()}  # key id {key_id(public)}"


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode()


class PublicKeys:
    """The public keys an auditor trusts, by key id."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def of(cls, *keys: Ed25519PublicKey) -> PublicKeys:
        return cls({key_id(k): k for k in keys})

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def ids(self) -> list[str]:
        return sorted(self._keys)

    def merged(self, other: PublicKeys) -> PublicKeys:
        return PublicKeys({**self._keys, **other._keys})

    def verify(self, kid: str, signature: str, message: bytes) -> bool:
        public = self._keys.get(kid)
        if public is None:
            return False
        try:
            public.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, ValueError):
            return False
        return True


def load_signing_key(path: Path) -> SigningKey:
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read the audit signing key {path}: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError(f"the audit signing key {path} is not an Ed25519 key")
    return SigningKey(loaded)


def generate_key_file(path: Path) -> SigningKey:
    """Write a new private key (mode 0600, refusing to overwrite) and its public line beside it (.pub)."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    key = SigningKey(private)
    path.with_suffix(".pub").write_text(public_line(key.public) + "\n", encoding="utf-8")
    return key


_PEM = re.compile(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", re.S)


def load_public_keys(path: Path) -> PublicKeys:
    """`ed25519 <base64>` lines and/or PEM public keys (`openssl pkey -pubout`), in any mix."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the audit public keys file {path}: {exc}") from exc
    keys: dict[str, Ed25519PublicKey] = {}
    for block in _PEM.findall(text):
        try:
            loaded = serialization.load_pem_public_key(block.encode())
        except ValueError as exc:
            raise ConfigError(f"{path}: a PEM public key that cannot be read ({exc})") from exc
        if not isinstance(loaded, Ed25519PublicKey):
            raise ConfigError(f"{path}: a PEM public key that is not an Ed25519 key")
        keys[key_id(loaded)] = loaded
    text = _PEM.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            if len(words) != 2 or words[0] != "ed25519":
                raise ValueError("expected `ed25519 <base64 key>`")
            public = Ed25519PublicKey.from_public_bytes(base64.b64decode(words[1], validate=True))
        except ValueError as exc:
            raise ConfigError(f"{path}, line {number}: not an audit public key ({exc})") from exc
        keys[key_id(public)] = public
    if not keys:
        raise ConfigError(f"{path} lists no audit public key")
    return PublicKeys(keys)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "new":
        print("usage: python -m services.audit.library.signing new PRIVATE_KEY_FILE", file=sys.stderr)
        return 2
    try:
        key = generate_key_file(Path(args[1]))
    except FileExistsError:
        print(f"error: {args[1]} exists; refusing to overwrite a signing key", file=sys.stderr)
        return 2
    print(f"private key written to {args[1]} (mode 0600); give it to the checkpointer only")
    print(f"public key line (for auditors' public keys file, also in {Path(args[1]).with_suffix('.pub')}):")
    print(public_line(key.public))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
