"""Rotating the master key, in the key ring: claims under a previous key are found by the current
key's lookup, a re-wrapped claim keeps its place (the winner stays the winner), nothing brings a
shredded claim back, and claims under an unknown key stay unreadable."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.privacy.claims import DEV_MASTER_KEY_FILE, Claim, MasterKey, MasterKeyError
from services.privacy.keys import KeyRing
from services.privacy.settings import PersonalDataSettings

NOW = datetime(2026, 12, 5, tzinfo=UTC)
OLD, NEW, OTHER = MasterKey(b"o" * 32), MasterKey(b"n" * 32), MasterKey(b"x" * 32)


def claimed(ring: KeyRing, person_ref: str, master: MasterKey = OLD) -> Claim:
    claim, _ = Claim.new(master, person_ref, NOW)
    ring.apply(claim.pseudonym, claim.to_json())
    return claim


def rewrap(ring: KeyRing, claim: Claim, data_key: bytes, person_ref: str, master: MasterKey = NEW) -> Claim:
    again = claim.rewrapped(master, data_key, person_ref)
    ring.apply(again.pseudonym, again.to_json())
    return again


def without_fingerprint(claim: Claim) -> bytes:
    raw = json.loads(claim.to_json())
    del raw["master"]
    return json.dumps(raw).encode()


def test_a_claim_under_a_previous_key_is_found_by_the_current_lookup() -> None:
    ring = KeyRing(NEW, previous=[OLD])
    claim = claimed(ring, "P-1")
    key = ring.key_for("P-1")
    assert key is not None and key.pseudonym == claim.pseudonym
    assert ring.reveal(claim.pseudonym) == "P-1" and ring.under(claim.pseudonym) == OLD.fingerprint
    assert ring.key_for("P-2") is None and len(ring) == 1


def test_a_claim_under_an_unknown_key_stays_unreadable_but_live() -> None:
    ring = KeyRing(NEW, previous=[OLD])
    claim = claimed(ring, "P-1", OTHER)
    assert ring.key_for("P-1") is None and ring.reveal(claim.pseudonym) is None
    assert ring.claims_of([claim.pseudonym]) == [claim.pseudonym]  # still found to be shredded
    assert ring.census() == {None: 1} and ring.rewrapped() == []


def test_claims_written_before_claims_named_their_key_are_read_with_whichever_key_unwraps_them() -> None:
    old_claim, _ = Claim.new(OLD, "P-old", NOW)
    new_claim, _ = Claim.new(NEW, "P-new", NOW)
    for ring in (KeyRing(NEW, previous=[OLD]), KeyRing(OLD, previous=[NEW])):
        ring.apply(old_claim.pseudonym, without_fingerprint(old_claim))
        ring.apply(new_claim.pseudonym, without_fingerprint(new_claim))
        assert ring.key_for("P-old").pseudonym == old_claim.pseudonym  # type: ignore[union-attr]
        assert ring.key_for("P-new").pseudonym == new_claim.pseudonym  # type: ignore[union-attr]
    alone = KeyRing(OLD)  # no other key: as before rotation existed
    alone.apply(old_claim.pseudonym, without_fingerprint(old_claim))
    assert alone.reveal(old_claim.pseudonym) == "P-old"


def test_rewrapping_moves_every_claim_to_the_current_key_and_a_second_pass_finds_nothing() -> None:
    ring = KeyRing(NEW, previous=[OLD])
    winner, rival = claimed(ring, "P-1"), claimed(ring, "P-1")
    fresh = claimed(ring, "P-2", NEW)
    again = ring.rewrapped()
    assert [c.pseudonym for c in again] == [winner.pseudonym, rival.pseudonym]  # the ring's order
    assert all(c.master == NEW.fingerprint and c.sealed_ref == o.sealed_ref and c.created == o.created
               for c, o in zip(again, (winner, rival), strict=True))
    for claim in again:
        ring.apply(claim.pseudonym, claim.to_json())
    assert ring.rewrapped() == [] and ring.census() == {NEW.fingerprint: 3}
    assert ring.key_for("P-1").pseudonym == winner.pseudonym  # type: ignore[union-attr]
    assert ring.key_for("P-2").pseudonym == fresh.pseudonym  # type: ignore[union-attr]
    only_new = KeyRing(NEW)
    for claim in again:
        only_new.apply(claim.pseudonym, claim.to_json())
    assert only_new.reveal(winner.pseudonym) == "P-1"


def test_a_rewrap_keeps_the_winner_even_when_the_rivals_rewrap_is_read_first() -> None:
    """A ring with only the new key reads the old claims (unreadable) and then their re-wraps: the
    first claim of the person stays the winner whatever order the re-wraps come in."""
    source = KeyRing(OLD)
    winner, rival = claimed(source, "P-1"), claimed(source, "P-1")
    ring = KeyRing(NEW)
    for claim in (winner, rival):
        ring.apply(claim.pseudonym, claim.to_json())
    assert ring.key_for("P-1") is None
    for claim in (rival, winner):
        data_key = source.data_key(claim.pseudonym)
        assert data_key is not None
        rewrap(ring, claim, data_key, "P-1")
    assert ring.key_for("P-1").pseudonym == winner.pseudonym  # type: ignore[union-attr]
    assert ring.claims_of([rival.pseudonym]) == [winner.pseudonym, rival.pseudonym]


def test_a_ring_without_the_keys_keeps_a_persons_claims_together_across_a_rewrap() -> None:
    """`gvi-audit verify` and the retention job read claims with a throwaway key: a re-wrap of the
    winner must not split it from its rival, or shredding the person would leave the rival."""
    source = KeyRing(OLD)
    winner, rival = claimed(source, "P-1"), claimed(source, "P-1")
    blind = KeyRing(MasterKey(b"t" * 32))
    for claim in (winner, rival):
        blind.apply(claim.pseudonym, claim.to_json())
    rewrap(blind, winner, source.data_key(winner.pseudonym) or b"", "P-1")
    assert blind.claims_of([winner.pseudonym]) == [winner.pseudonym, rival.pseudonym]


def test_a_record_after_the_tombstone_is_ignored() -> None:
    ring = KeyRing(NEW, previous=[OLD])
    claim = claimed(ring, "P-1")
    data_key = ring.data_key(claim.pseudonym)
    assert data_key is not None
    ring.apply(claim.pseudonym, None)
    rewrap(ring, claim, data_key, "P-1")
    assert ring.key_for("P-1") is None and ring.reveal(claim.pseudonym) is None
    assert ring.was_shredded(claim.pseudonym) and ring.claims_of([claim.pseudonym]) == []


def test_a_record_that_is_not_the_same_claim_wrapped_again_changes_nothing() -> None:
    ring = KeyRing(NEW, previous=[OLD])
    claim = claimed(ring, "P-1")
    impostor, _ = Claim.new(NEW, "P-2", NOW)
    ring.apply(claim.pseudonym, Claim(claim.pseudonym, impostor.lookup, impostor.wrapped_key,
                                      impostor.sealed_ref, impostor.created, NEW.fingerprint).to_json())
    assert ring.reveal(claim.pseudonym) == "P-1" and ring.key_for("P-2") is None


def test_a_rewrap_under_a_key_the_ring_lacks_leaves_the_claim_it_can_read() -> None:
    ring = KeyRing(OLD)  # a service not yet given the new key
    claim = claimed(ring, "P-1")
    data_key = ring.data_key(claim.pseudonym)
    assert data_key is not None
    rewrap(ring, claim, data_key, "P-1")
    assert ring.key_for("P-1").pseudonym == claim.pseudonym  # type: ignore[union-attr]


def test_previous_master_keys_come_from_the_settings_and_are_checked_like_the_current(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    current, first, second = (tmp_path / name for name in ("current.key", "a.key", "b.key"))
    for path in (current, first, second):
        path.write_text(MasterKey.generate())
    monkeypatch.setenv("GVI_PERSONAL_DATA_MASTER_KEY_FILE", str(current))
    monkeypatch.setenv("GVI_PERSONAL_DATA_PREVIOUS_MASTER_KEY_FILES", f"{first}, {second}")
    settings = PersonalDataSettings()
    ring = settings.key_ring()
    assert ring.master.fingerprint == settings.master_key().fingerprint
    assert [k.fingerprint for k in ring.previous] == [MasterKey.from_file(p, development=False).fingerprint
                                                      for p in (first, second)]
    monkeypatch.setenv("GVI_PERSONAL_DATA_PREVIOUS_MASTER_KEY_FILES", str(DEV_MASTER_KEY_FILE))
    with pytest.raises(MasterKeyError, match="development master key"):
        PersonalDataSettings().key_ring()
    monkeypatch.delenv("GVI_PERSONAL_DATA_PREVIOUS_MASTER_KEY_FILES")
    assert PersonalDataSettings().key_ring().previous == ()
