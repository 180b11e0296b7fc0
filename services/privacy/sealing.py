"""Sealing an accepted event before it reaches Kafka, and opening it again where a role may read it.

Pure functions over an event's JSON form (the dict the intake writes): `seal` replaces each person
reference by the person's pseudonym and each personal text by `SEALED_TEXT`, and puts the clear
values, encrypted with each person's data key, in the event's `sealed` attribute
(`services.contracts.personal` says where persons sit in each type and how the attribute looks).
`opened` decrypts those values for the persons whose keys are still live; `unsealed` gives the
event back as posted, except for the persons whose keys were shredded, whose pseudonyms and sealed
texts stay.

Each ciphertext is bound to its event and place (`source`, `id`, JSON pointer), so it cannot be
moved to another event or another person of the same event.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag

from services.contracts.envelope import canonical_json
from services.contracts.personal import (
    PERSON_FIELD,
    SEALED_TEXT,
    SealedEntry,
    format_sealed,
    parse_sealed,
    person_slots,
)
from services.privacy.claims import PersonKey, decrypt, encrypt

__all__ = ["opened", "person_refs", "seal", "unsealed"]

Event = dict[str, Any]


def _persons(event: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], tuple[str, ...]]]:
    """Each object of the event that names a person: its pointer, the object, its personal texts."""
    data = event.get("data")
    if not isinstance(data, dict):
        return []
    return [(pointer, obj, slot.texts)
            for slot in person_slots(str(event.get("type")))
            for pointer, obj in slot.objects(data)
            if isinstance(obj.get(PERSON_FIELD), str)]


def _aad(event: Mapping[str, Any], pointer: str) -> bytes:
    return f"{event['source']}\n{event['id']}\n{pointer}".encode()


def person_refs(event: Mapping[str, Any]) -> list[str]:
    """The person references an event names, in order of appearance, each once."""
    return list(dict.fromkeys(obj[PERSON_FIELD] for _, obj, _ in _persons(event)))


def seal(event: Mapping[str, Any], keys: Mapping[str, PersonKey]) -> Event:
    """The event as it goes to Kafka: `keys` has the key of every reference it names
    (`person_refs`). An event that names no one comes back equal to the one given."""
    sealed = copy.deepcopy(dict(event))
    entries = []
    for pointer, obj, texts in _persons(sealed):
        key = keys[obj[PERSON_FIELD]]
        clear = {name: obj[name] for name in (PERSON_FIELD, *texts) if obj.get(name) is not None}
        entries.append(SealedEntry(pointer, encrypt(key.data_key, canonical_json(clear),
                                                    _aad(sealed, pointer))))
        obj[PERSON_FIELD] = key.pseudonym
        obj.update({name: SEALED_TEXT for name in texts if obj.get(name) is not None})
    if entries:
        sealed["sealed"] = format_sealed(entries)
    return sealed


def opened(event: Mapping[str, Any], data_key: Callable[[str], bytes | None]) -> dict[str, dict[str, Any]]:
    """The clear values of each person of a sealed event whose key is live, by JSON pointer.
    `data_key` gives a pseudonym's key (`KeyRing.data_key`), None once shredded."""
    attribute = event.get("sealed")
    if not isinstance(attribute, str):
        return {}
    places = {pointer: obj for pointer, obj, _ in _persons(event)}
    found = {}
    for entry in parse_sealed(attribute):
        obj = places.get(entry.pointer)
        key = None if obj is None else data_key(obj[PERSON_FIELD])
        if key is None:
            continue
        try:
            found[entry.pointer] = json.loads(decrypt(key, entry.ciphertext, _aad(event, entry.pointer)))
        except (InvalidTag, ValueError):
            continue  # not this person's: tampered with or moved, so left sealed
    return found


def unsealed(event: Mapping[str, Any], data_key: Callable[[str], bytes | None]) -> Event:
    """The event with the clear values of every person whose key is live put back, and without its
    `sealed` attribute; a shredded person keeps their pseudonym and sealed texts."""
    clear = opened(event, data_key)
    result = copy.deepcopy(dict(event))
    result.pop("sealed", None)
    for pointer, obj, _ in _persons(result):
        obj.update(clear.get(pointer, {}))
    return result
