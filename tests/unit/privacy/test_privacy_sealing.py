"""Sealing: what an event naming persons looks like in Kafka, and what each key opens."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.contracts import read_event
from services.contracts.envelope import canonical_json
from services.contracts.personal import SEALED_TEXT, is_pseudonym, parse_sealed
from services.privacy.sealing import opened, person_refs, seal, unsealed
from services.privacy.store import MemoryKeyStore
from tests.examples import example_event


def accepted(event_type: str, **data: Any) -> dict[str, Any]:
    event = example_event(event_type)
    event["data"] = {**event["data"], **data}
    return {**event, "recordedtime": "2026-01-02T03:04:05Z", "agency": "police"}


async def sealed_with(store: MemoryKeyStore, event: dict[str, Any]) -> dict[str, Any]:
    return seal(event, await store.keys_for(person_refs(event)))


async def test_a_membership_leaves_only_a_pseudonym_and_ciphertext() -> None:
    store = MemoryKeyStore()
    event = accepted("gvi.membership.assessed.v1", person_ref="P-1", evidence="seen with the group")
    sealed = await sealed_with(store, event)
    assert is_pseudonym(sealed["data"]["person_ref"])
    assert sealed["data"]["evidence"] == SEALED_TEXT
    assert "P-1" not in json.dumps(sealed) and "seen with" not in json.dumps(sealed)
    read = read_event(canonical_json(sealed))  # the processor, replay and dashboard read it as any event
    assert read.sealed == sealed["sealed"]
    assert getattr(read.data, "person_ref", None) == sealed["data"]["person_ref"]
    assert unsealed(sealed, store.ring.data_key) == event


async def test_one_person_gets_one_pseudonym_in_every_event_and_each_person_their_own() -> None:
    store = MemoryKeyStore()
    first = await sealed_with(store, accepted("gvi.sanction.recorded.v1", person_ref="P-1", group_id=None))
    held = await sealed_with(store, accepted("gvi.callin.held.v1", attended=[
        {"person_ref": "P-1", "group_id": "g1"}], no_shows=[{"person_ref": "P-2", "group_id": "g1"}]))
    one = first["data"]["person_ref"]
    assert held["data"]["attended"][0]["person_ref"] == one
    assert held["data"]["no_shows"][0]["person_ref"] not in (one, "P-2")
    assert [e.pointer for e in parse_sealed(held["sealed"])] == ["/data/attended/0", "/data/no_shows/0"]


async def test_an_event_naming_no_one_is_left_as_it_was() -> None:
    event = accepted("gvi.incident.reported.v1")
    assert seal(event, {}) == event
    warning = accepted("gvi.warning.delivered.v1")
    warning["data"].pop("person_ref", None)
    assert seal(warning, {}) == warning


async def test_shredding_one_person_leaves_the_other_readable() -> None:
    store = MemoryKeyStore()
    held = await sealed_with(store, accepted("gvi.callin.held.v1", attended=[
        {"person_ref": "P-1", "group_id": "g1"}, {"person_ref": "P-2", "group_id": "g1"}]))
    gone = held["data"]["attended"][0]["person_ref"]
    assert await store.shred([gone]) == 1
    clear = unsealed(held, store.ring.data_key)
    assert clear["data"]["attended"] == [{"person_ref": gone, "group_id": "g1"},
                                         {"person_ref": "P-2", "group_id": "g1"}]
    assert store.ring.reveal(gone) is None and "P-1" not in json.dumps(clear)
    assert (await store.keys_for(["P-1"]))["P-1"].pseudonym != gone  # posted again: a new person


@pytest.mark.parametrize("tamper", ["swap", "other-event"])
async def test_a_ciphertext_opens_only_in_its_own_place(tamper: str) -> None:
    store = MemoryKeyStore()
    held = await sealed_with(store, accepted("gvi.callin.held.v1", attended=[
        {"person_ref": "P-1", "group_id": "g1"}, {"person_ref": "P-1", "group_id": "g2"}], no_shows=[]))
    if tamper == "swap":  # the same person's two entries, exchanged
        a, b = parse_sealed(held["sealed"])
        held["sealed"] = f"{a.pointer}:{b.ciphertext} {b.pointer}:{a.ciphertext}"
        assert opened(held, store.ring.data_key) == {}
    else:
        held["id"] = "another-event"
        assert opened(held, store.ring.data_key) == {}
