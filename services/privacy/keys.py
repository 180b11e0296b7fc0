"""The key ring: the live claims of the `person-keys` topic and what they answer.

Claims (`services.privacy.claims`, which defines them, the master key and the encryption) are
records of the compacted `person-keys` topic, keyed by pseudonym; a tombstone destroys one. Every
reader applies the records in the topic's one order, and for each person **the first live claim
wins**, so two intakes that claimed the same new person at the same moment both end up using the
same pseudonym (the loser withdraws its claim). Nothing here talks to Kafka: the `KeyRing` is a
pure view of the records it is given (`services.privacy.kafka_keys` feeds it).

The master key can be rotated: a ring holds the current master key and any previous ones. It finds
persons by the current key's lookup; a claim under a previous key gets its current lookup when it
is applied (its data key unwrapped with that key, its sealed reference opened), so a person
claimed before the rotation is found, not claimed again. `gvi-privacy rewrap` writes each such
claim again under the current key (`rewrapped`). A record for a pseudonym the ring holds replaces
its claim in place, so its person's first claim stays first; a record for a pseudonym already
shredded is ignored, so no record undoes an erasure. A claim under a key the ring does not hold
stays unreadable, found only by the lookup it stores.

With a person's claims tombstoned (shredded), nothing links their pseudonym to them any more: the
lookup is gone, and the data key that decrypts their sealed values is gone from every reader and,
once the topic is cleaned, from the broker's disks.
"""

from __future__ import annotations

from bisect import insort
from collections import Counter
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag

from services.privacy.claims import Claim, MasterKey, PersonKey, decrypt

__all__ = ["KeyRing"]

_Opened = tuple[MasterKey, str, bytes | None]
"""What a claim is read with: the master key that unwraps it, the lookup its person is found by,
and its data key if it was unwrapped to find that lookup."""


class KeyRing:
    """The live claims, applied in the topic's order (`apply`), and what they answer: a person's
    pseudonym and key (`key_for`), a pseudonym's key (`data_key`) and reference (`reveal`).
    `master` is the current master key (new claims, lookups); `previous` the keys it replaced."""

    def __init__(self, master: MasterKey, previous: Iterable[MasterKey] = ()) -> None:
        self.master = master
        self._masters = {key.fingerprint: key for key in (*previous, master)}
        self.previous = tuple(key for key in self._masters.values() if key is not master)
        self._claims: dict[str, Claim] = {}  # pseudonym -> live claim, in the order first applied
        self._placed: dict[str, tuple[int, str]] = {}  # pseudonym -> (that order, the lookup it is under)
        self._live: dict[str, list[str]] = {}  # lookup -> its live claims' pseudonyms, first = winner
        self._wrapped_by: dict[str, MasterKey] = {}  # pseudonym -> the key that unwraps its claim
        self._keys: dict[str, bytes] = {}  # pseudonym -> unwrapped data key, as used
        self._shredded: set[str] = set()  # pseudonyms whose tombstone was applied
        self._applied = 0

    def __len__(self) -> int:
        return len(self._live)

    def apply(self, pseudonym: str, value: bytes | None) -> None:
        """One record of the topic: a claim, a claim wrapped again (the same pseudonym, sealed
        reference and creation time), or a tombstone (`value` None) that shreds it. A rival claim
        left standing when the winner is shredded becomes the winner: it holds no one's data yet
        (events sealed with a losing claim are never published)."""
        if value is None:
            self._shred(pseudonym)
            return
        try:
            claim = Claim.from_json(value)
        except (ValueError, KeyError, TypeError):
            return  # not a claim: skipped, as every reader skips it
        if claim.pseudonym != pseudonym or pseudonym in self._shredded:
            return  # malformed, or after the tombstone: an erasure is never undone
        held = self._claims.get(pseudonym)
        if held is not None and (held == claim or (held.sealed_ref, held.created)
                                 != (claim.sealed_ref, claim.created)):
            return  # a repeat, or not the held claim wrapped again: changes nothing
        opened = self._open(claim)
        if held is not None and opened is None and pseudonym in self._wrapped_by:
            return  # wrapped again under a key this ring lacks: the claim it can read stays
        self._place(claim, opened)

    def _open(self, claim: Claim) -> _Opened | None:
        """How `claim` is read; None if no master key of this ring unwraps it. A claim under the
        current key (or one naming no key, when there is no other) is unwrapped when first used."""
        if claim.master == self.master.fingerprint or (claim.master is None and not self.previous):
            return self.master, claim.lookup, None
        if claim.master is None:
            candidates = [self.master, *self.previous]  # written before claims named their key
        else:
            candidates = [self._masters[claim.master]] if claim.master in self._masters else []
        for master in candidates:
            try:
                data_key = master.unwrap(claim.wrapped_key, claim.pseudonym)
            except (InvalidTag, ValueError):
                continue
            if master is self.master:
                return master, claim.lookup, data_key
            try:
                person_ref = decrypt(data_key, claim.sealed_ref, claim.pseudonym.encode()).decode()
            except (InvalidTag, ValueError):
                return None
            return master, self.master.lookup(person_ref), data_key
        return None

    def _place(self, claim: Claim, opened: _Opened | None) -> None:
        """Hold `claim`, under the lookup `opened` gives; unreadable, under the lookup it was held
        under (a claim wrapped again) or else the one it stores. A claim keeps its place among its
        person's claims however often it is wrapped again."""
        pseudonym = claim.pseudonym
        order, held_under = self._placed.get(pseudonym, (self._applied, None))
        self._applied += 1
        self._keys.pop(pseudonym, None)
        if opened is None:
            lookup = held_under if held_under is not None else claim.lookup
            self._wrapped_by.pop(pseudonym, None)
        else:
            master, lookup, data_key = opened
            self._wrapped_by[pseudonym] = master
            if data_key is not None:
                self._keys[pseudonym] = data_key
        self._claims[pseudonym] = claim
        self._placed[pseudonym] = (order, lookup)
        if lookup != held_under:
            if held_under is not None:
                self._unlist(pseudonym, held_under)
            insort(self._live.setdefault(lookup, []), pseudonym, key=lambda p: self._placed[p][0])

    def _shred(self, pseudonym: str) -> None:
        self._shredded.add(pseudonym)
        self._keys.pop(pseudonym, None)
        self._wrapped_by.pop(pseudonym, None)
        if self._claims.pop(pseudonym, None) is not None:
            self._unlist(pseudonym, self._placed.pop(pseudonym)[1])

    def _unlist(self, pseudonym: str, lookup: str) -> None:
        live = self._live[lookup]
        live.remove(pseudonym)
        if not live:
            del self._live[lookup]

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
        lookups = dict.fromkeys(self._placed[p][1] for p in pseudonyms if p in self._placed)
        return [p for lookup in lookups for p in self._live[lookup]]

    def pseudonyms(self) -> list[str]:
        """The pseudonyms of every person with a live claim (winners only)."""
        return [live[0] for live in self._live.values()]

    def data_key(self, pseudonym: str) -> bytes | None:
        key = self._keys.get(pseudonym)
        if key is None:
            claim, master = self._claims.get(pseudonym), self._wrapped_by.get(pseudonym)
            if claim is None or master is None:
                return None
            try:
                key = master.unwrap(claim.wrapped_key, pseudonym)
            except (InvalidTag, ValueError):
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

    def under(self, pseudonym: str) -> str | None:
        """The fingerprint of the master key that unwraps the live claim of `pseudonym`; None if
        no key of this ring does (or there is no such claim)."""
        return None if self.data_key(pseudonym) is None else self._wrapped_by[pseudonym].fingerprint

    def census(self) -> Counter[str | None]:
        """How many live claims each master key unwraps, by fingerprint (None: no key of this ring)."""
        return Counter(self.under(pseudonym) for pseudonym in self._claims)

    def rewrapped(self) -> list[Claim]:
        """Every live claim under a previous master key, wrapped again under the current one, in
        the order the ring first applied them (rivals after their person's winner)."""
        found = []
        for pseudonym, claim in self._claims.items():
            if self.under(pseudonym) in (None, self.master.fingerprint):
                continue
            data_key, person_ref = self.data_key(pseudonym), self.reveal(pseudonym)
            assert data_key is not None and person_ref is not None
            found.append(claim.rewrapped(self.master, data_key, person_ref))
        return found
