"""A person first named a moment ago, whose key claim this dashboard has not read yet, is not
shown as erased: only a person whose claim's tombstone was read is."""

from __future__ import annotations

from datetime import UTC, datetime

from services.dashboard.reveal import Reveal
from services.privacy.claims import Claim, MasterKey
from services.privacy.keys import KeyRing

MASTER = MasterKey(b"m" * 32)


def test_a_claim_not_read_yet_shows_the_pseudonym_and_a_tombstone_shows_erased() -> None:
    ring = KeyRing(MASTER)
    reveal = Reveal(ring)
    claim, _ = Claim.new(MASTER, "pol:p-1", datetime(2026, 12, 5, tzinfo=UTC))
    assert reveal.person(claim.pseudonym) == claim.pseudonym  # not read yet: not "erased"
    ring.apply(claim.pseudonym, claim.to_json())
    assert reveal.person(claim.pseudonym) == "pol:p-1"
    ring.apply(claim.pseudonym, None)
    assert reveal.person(claim.pseudonym) is None  # erased
    assert reveal.person("pol:p-2") == "pol:p-2"  # a reference from before sealing, as it is
