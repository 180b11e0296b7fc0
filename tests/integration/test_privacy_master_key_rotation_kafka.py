"""Rotating the personal-data master key against the real broker, as docs/operations.md tells it:
persons claimed through the real intakes under the old key; every service given the new key as a
previous key; the swap (new current, old previous); `gvi-privacy rewrap`. Afterwards a key ring
with only the new key finds every person by their reference under the pseudonym they always had,
and opens the events sealed before the rotation; an erasure racing the rewrap stays erased; a
second rewrap writes nothing. The rewrap (not its dry run) leaves one `KeysRewrapped` record on the
data-protection topic, with its counts and no person."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from services.contracts import DATA_PROTECTION_TOPIC, PERSON_KEYS_TOPIC, Service
from services.contracts.protection import KeysRewrapped, read_protection_record
from services.privacy.claims import MasterKey
from services.privacy.cli import main
from services.privacy.kafka_keys import KafkaKeyStore, read_key_ring
from services.privacy.keys import KeyRing
from services.privacy.sealing import unsealed
from tests.examples import example_event
from tests.integration.test_intake_kafka import post, read_topic, running

POLICE = "/agencies/police"


@pytest.fixture
def bootstrap(own_kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GVI_ENV", "development")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", own_kafka_bootstrap)
    return own_kafka_bootstrap


def membership(person: str) -> dict[str, Any]:
    return example_event("gvi.membership.assessed.v1", source=POLICE, data_overrides={
        "person_ref": person, "evidence": f"Seen with {person}", "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2027-06-30T00:00:00Z"})


def key_files(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    for path in (old, new):
        path.write_text(MasterKey.generate() + "\n")
    return old, new


def named(bootstrap: str, persons: list[str], current: Path, previous: Path | None = None) -> None:
    """Each person named in an event, posted to a notifications intake with these master keys."""
    env = {"GVI_PERSONAL_DATA_MASTER_KEY_FILE": str(current)}
    if previous is not None:
        env["GVI_PERSONAL_DATA_PREVIOUS_MASTER_KEY_FILES"] = str(previous)
    with running(Service.NOTIFICATIONS, bootstrap, **env) as notifications:
        for person in persons:
            assert post(notifications, membership(person), "dev-police-key").status_code == 202


def ring_of(records: list[Any], master: MasterKey) -> KeyRing:
    ring = KeyRing(master)
    for record in records:
        ring.apply(record.key.decode(), record.value)
    return ring


def latest(records: list[Any]) -> list[Any]:
    """What compaction leaves of the key topic: each pseudonym's latest record."""
    return list({record.key: record for record in records}.values())


def dpo(*argv: str) -> list[str]:
    return [*argv, "--reason", "the data subject's written request", "--officer", "dpo-anna"]


def erased(person: str, case: str) -> None:
    assert main(dpo("request", "open", "--case", case, "--kind", "erasure")) == 0
    assert main(dpo("erase", "--person-ref", person, "--case", case)) == 0


def rewrap_records(bootstrap: str) -> list[KeysRewrapped]:
    records = [read_protection_record(r.value) for r in read_topic(bootstrap, DATA_PROTECTION_TOPIC)]
    return [r for r in records if isinstance(r, KeysRewrapped)]


async def rewrap_with(bootstrap: str, ring: KeyRing) -> tuple[int, int]:
    """`KafkaKeyStore.rewrap` with `ring` as it was read: the store follows the topic again only
    once the rewrap has chosen its claims (it starts reading at the rewrap's first wait)."""
    store = KafkaKeyStore(bootstrap, ring, client_id="test-rewrap")
    store.start()
    try:
        return await store.rewrap()
    finally:
        await store.stop()


def test_after_rotation_and_rewrap_the_new_key_alone_reads_every_person(
        bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    old_file, new_file = key_files(tmp_path)
    old, new = (MasterKey.from_file(p, development=False) for p in (old_file, new_file))
    named(bootstrap, ["police:k-1", "police:k-2", "police:k-erased"], old_file)
    before = ring_of(read_topic(bootstrap, PERSON_KEYS_TOPIC), old)
    pseudonyms = {ref: before.key_for(ref).pseudonym  # type: ignore[union-attr]
                  for ref in ("police:k-1", "police:k-2", "police:k-erased")}

    named(bootstrap, ["police:k-1", "police:k-3"], old_file, previous=new_file)  # phase 1: both readable
    named(bootstrap, ["police:k-2", "police:k-4"], new_file, previous=old_file)  # phase 2: the swap
    named(bootstrap, ["police:k-late"], old_file)  # a service restarted late, still on the old key
    monkeypatch.setenv("GVI_PERSONAL_DATA_MASTER_KEY_FILE", str(new_file))
    monkeypatch.setenv("GVI_PERSONAL_DATA_PREVIOUS_MASTER_KEY_FILES", str(old_file))
    erased("police:k-erased", "DP-R1")
    assert main(["rewrap", "--dry-run"]) == 1
    assert "4 claim(s) under a previous master key would be re-wrapped" in capsys.readouterr().out
    assert rewrap_records(bootstrap) == []  # a dry run records nothing

    assert main(["rewrap"]) == 0
    out = capsys.readouterr().out
    assert f"re-wrapped 4 claim(s) under the current master key {new.fingerprint}" in out
    assert "all 5 live claim(s) are under the current master key" in out
    assert "police:" not in out
    [record] = rewrap_records(bootstrap)
    assert (record.master, record.rewrapped_from) == (new.fingerprint, (old.fingerprint,))
    assert (record.rewrapped, record.erased_meanwhile, record.live_claims_other_keys) == (4, 0, 0)
    assert record.live_claims == {new.fingerprint: 5, old.fingerprint: 0}
    [raw] = [r for r in read_topic(bootstrap, DATA_PROTECTION_TOPIC) if r.key == b"master-key"]
    assert b"psn-" not in raw.value and b"police:" not in raw.value
    assert main(["requests"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("last master key rewrap: ")

    # An erasure racing a rewrap: the rewrap read the claim before the tombstone and writes it after.
    named(bootstrap, ["police:k-raced"], old_file)
    snapshot = asyncio.run(read_key_ring(bootstrap, KeyRing(new, previous=[old])))
    erased("police:k-raced", "DP-R2")
    assert asyncio.run(rewrap_with(bootstrap, snapshot)) == (0, 1)  # re-wrapped, then tombstoned again
    written = len(read_topic(bootstrap, PERSON_KEYS_TOPIC))
    assert main(["rewrap"]) == 0 and "re-wrapped 0 claim(s)" in capsys.readouterr().out
    assert len(read_topic(bootstrap, PERSON_KEYS_TOPIC)) == written  # the second rewrap wrote nothing
    assert rewrap_records(bootstrap) == [record]  # nor recorded anything

    records = read_topic(bootstrap, PERSON_KEYS_TOPIC)
    assert len({record.key for record in records}) == 7  # one claim per person named: none claimed anew
    for view in (records, latest(records)):  # as the topic is now, and once compacted
        only_new = ring_of(view, new)
        assert only_new.census() == {new.fingerprint: 5}
        for ref in ("police:k-1", "police:k-2"):
            assert only_new.key_for(ref).pseudonym == pseudonyms[ref]  # type: ignore[union-attr]
        for ref in ("police:k-1", "police:k-2", "police:k-3", "police:k-4", "police:k-late"):
            assert only_new.reveal(only_new.key_for(ref).pseudonym) == ref  # type: ignore[union-attr]
        assert only_new.key_for("police:k-erased") is None and only_new.key_for("police:k-raced") is None
        assert only_new.reveal(pseudonyms["police:k-erased"]) is None

    only_new = ring_of(records, new)
    events = [unsealed(json.loads(r.value), only_new.data_key)
              for r in read_topic(bootstrap, Service.NOTIFICATIONS.topic)]
    opened = [e["data"] for e in events if not e["data"]["person_ref"].startswith("psn-")]
    assert len(opened) == 7 and all(d["evidence"] == f"Seen with {d['person_ref']}" for d in opened)
    tombstoned = {r.key.decode() for r in latest(records) if r.value is None}
    assert {e["data"]["person_ref"] for e in events if e["data"]["person_ref"].startswith("psn-")} \
        == tombstoned and len(tombstoned) == 2  # the two erased persons stay pseudonyms
