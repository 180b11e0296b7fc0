"""The key store port the intakes seal with, its errors and claim gate, and an in-memory store for
tests and tools.

`services.privacy.kafka_keys.KafkaKeyStore` is the store of a deployment (the `person-keys` topic);
`MemoryKeyStore` keeps the same ring in this process only, which is all a unit test needs. The
types a caller of any store names (`ClaimGate`, `ClaimLost`, `KeyStoreUnavailable`) live here, so
that naming them does not import the Kafka adapter.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from services.privacy.claims import Claim, MasterKey, PersonKey
from services.privacy.keys import KeyRing

__all__ = ["ClaimGate", "ClaimLost", "KeyStore", "KeyStoreUnavailable", "MemoryKeyStore"]


class KeyStoreUnavailable(RuntimeError):
    """The key topic could not be written or read in time: nothing was sealed or shredded."""


class ClaimLost(KeyStoreUnavailable):
    """Another claim of the same new person came first: whatever was sealed with this claim's key
    must not be published (sealed again, it gets the winner's key)."""


class ClaimGate:
    """Completes once every new claim an event was sealed with is known to be its person's first
    live claim in the key topic's order; raises `ClaimLost` or `KeyStoreUnavailable` otherwise."""

    def __init__(self, claims: Iterable[asyncio.Future[None]]) -> None:
        self._claims = list(claims)

    async def passed(self) -> None:
        await asyncio.gather(*(asyncio.shield(c) for c in self._claims))


class KeyStore(Protocol):
    ring: KeyRing

    async def keys_for(self, person_refs: Iterable[str]) -> Mapping[str, PersonKey]:
        """Each person's key, claimed if new; raises `KeyStoreUnavailable` if it cannot be."""
        ...

    def provisional(self, person_refs: Iterable[str]) -> tuple[Mapping[str, PersonKey], ClaimGate | None]:
        """Each person's key at once, new persons' from claims under way, and the gate that says
        whether those claims won (None: no new person)."""
        ...

    async def shred(self, pseudonyms: Sequence[str]) -> int:
        """Destroy every claim of the persons of `pseudonyms`; how many were destroyed."""
        ...


class MemoryKeyStore:
    """The key ring of this process alone, claims applied at once; a fresh random master key unless
    one is given."""

    def __init__(self, master: MasterKey | None = None) -> None:
        self.ring = KeyRing(master or MasterKey(secrets.token_bytes(32)))

    def provisional(self, person_refs: Iterable[str]) -> tuple[dict[str, PersonKey], ClaimGate | None]:
        """Claims here are settled at once: there is never a gate to wait for."""
        found = {}
        for ref in dict.fromkeys(person_refs):
            key = self.ring.key_for(ref)
            if key is None:
                claim, _ = Claim.new(self.ring.master, ref, datetime.now(UTC))
                self.ring.apply(claim.pseudonym, claim.to_json())
                key = self.ring.key_for(ref)
            assert key is not None
            found[ref] = key
        return found, None

    async def keys_for(self, person_refs: Iterable[str]) -> dict[str, PersonKey]:
        return self.provisional(person_refs)[0]

    async def shred(self, pseudonyms: Sequence[str]) -> int:
        doomed = self.ring.claims_of(pseudonyms)
        for pseudonym in doomed:
            self.ring.apply(pseudonym, None)
        return len(doomed)

    async def rewrap(self) -> tuple[int, int]:
        """As `KafkaKeyStore.rewrap`: the claims under a previous master key, wrapped again under
        the current one; how many, and how many were erased meanwhile (here: never)."""
        claims = self.ring.rewrapped()
        for claim in claims:
            self.ring.apply(claim.pseudonym, claim.to_json())
        return len(claims), 0
