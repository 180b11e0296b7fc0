"""The key ring: claims applied in the topic's order, first live claim wins, shredding destroys."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.privacy.claims import Claim, MasterKey, MasterKeyError
from services.privacy.keys import KeyRing
from services.privacy.settings import PersonalDataSettings

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def master() -> MasterKey:
    return MasterKey(b"k" * 32)


def test_two_rival_claims_of_one_person_resolve_to_the_first_for_every_reader() -> None:
    first, _ = Claim.new(master(), "P-1", NOW)
    second, _ = Claim.new(master(), "P-1", NOW)
    for ring in (KeyRing(master()), KeyRing(master())):
        ring.apply(first.pseudonym, first.to_json())
        ring.apply(second.pseudonym, second.to_json())
        key = ring.key_for("P-1")
        assert key is not None and key.pseudonym == first.pseudonym
        assert ring.reveal(second.pseudonym) == "P-1"  # the rival holds the reference too
        assert sorted(ring.claims_of([first.pseudonym])) == sorted([first.pseudonym, second.pseudonym])


def test_a_tombstone_shreds_the_claim_and_the_lookup_goes_with_it() -> None:
    ring = KeyRing(master())
    claim, data_key = Claim.new(master(), "P-1", NOW)
    ring.apply(claim.pseudonym, claim.to_json())
    assert ring.data_key(claim.pseudonym) == data_key and ring.reveal(claim.pseudonym) == "P-1"
    ring.apply(claim.pseudonym, None)
    assert ring.key_for("P-1") is None and ring.data_key(claim.pseudonym) is None
    assert ring.reveal(claim.pseudonym) is None and len(ring) == 0


def test_a_claim_wrapped_by_another_master_key_opens_nothing() -> None:
    other = MasterKey(b"o" * 32)
    claim, _ = Claim.new(other, "P-1", NOW)
    ring = KeyRing(master())
    ring.apply(claim.pseudonym, claim.to_json())
    assert ring.data_key(claim.pseudonym) is None and ring.reveal(claim.pseudonym) is None
    assert ring.key_for("P-1") is None  # its lookup differs too: a different key derives it


def test_records_that_are_not_claims_are_skipped() -> None:
    ring = KeyRing(master())
    ring.apply("psn-x", b"not json")
    claim, _ = Claim.new(master(), "P-1", NOW)
    ring.apply("psn-other", claim.to_json())  # under a key that is not its pseudonym
    assert len(ring) == 0


def test_the_development_key_is_refused_outside_development(tmp_path: Path) -> None:
    settings = PersonalDataSettings()
    with pytest.raises(MasterKeyError, match="required outside development"):
        settings.master_key()
    dev = Path("deploy/config/personal-data-master.dev.key")
    with pytest.raises(MasterKeyError, match="development master key"):
        MasterKey.from_file(dev, development=False)
    assert MasterKey.from_file(dev, development=True).fingerprint
    own = tmp_path / "master.key"
    own.write_text(MasterKey.generate())
    assert MasterKey.from_file(own, development=False).fingerprint
    own.write_text(base64.b64encode(b"short").decode())
    with pytest.raises(MasterKeyError, match="32 bytes"):
        MasterKey.from_file(own, development=False)


def test_the_ring_tells_an_erased_person_from_one_not_read_yet() -> None:
    ring = KeyRing(master())
    claim, _ = Claim.new(master(), "P-1", NOW)
    assert not ring.was_shredded(claim.pseudonym) and ring.reveal(claim.pseudonym) is None  # not read yet
    ring.apply(claim.pseudonym, claim.to_json())
    ring.apply(claim.pseudonym, None)
    assert ring.was_shredded(claim.pseudonym) and ring.reveal(claim.pseudonym) is None
