"""Where personal data sits in each event type, and how it looks once the intake has sealed it.

An agency posts person references (`person_ref`) and personal free text (a field marked
`x-personal` in the schema, e.g. a membership assessment's `evidence`) in the clear. Before the
event reaches Kafka the intake seals them (`services.privacy.sealing`):

- every `person_ref` is replaced by the person's **pseudonym** (`psn-` and 26 random characters),
  the same for every event about that person, so the rules, which only ever compare references,
  read sealed events exactly as they read clear ones;
- every personal text field is replaced by `SEALED_TEXT`;
- the clear values of each object that names a person are encrypted with that person's data key
  and carried in the event's `sealed` attribute, one entry per object (`SealedEntry`).

Destroying the person's key (crypto-shredding) leaves the pseudonym, which nothing links to the
person any more, and ciphertext no one can read; the event, its group, time and kind stay.

A personal text field belongs to the person of the object that holds it: every object with one
also names a required `person_ref` (checked by the contract tests).
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from services.contracts.events import EVENT_TYPES

__all__ = [
    "PERSONAL",
    "PERSON_FIELD",
    "PSEUDONYM_PATTERN",
    "SEALED_TEXT",
    "PersonSlot",
    "SealedEntry",
    "format_sealed",
    "is_pseudonym",
    "parse_sealed",
    "person_slots",
]

PERSON_FIELD = "person_ref"
"""The one field name a person reference goes by, in every event type."""

PERSONAL = "x-personal"
"""The JSON Schema keyword that marks a field as personal data."""

SEALED_TEXT = "[sealed]"
"""What a personal text field holds in Kafka; its clear value is in the event's `sealed` attribute."""

PSEUDONYM_PATTERN = re.compile(r"^psn-[a-z2-7]{26}$")
"""A pseudonym: `psn-` and the base32 of 16 random bytes (a valid `person_ref` itself)."""


def is_pseudonym(value: str) -> bool:
    return PSEUDONYM_PATTERN.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class PersonSlot:
    """An object inside `data` that may name a person: `path` is the fields that lead to it from
    `data` (through each item of a list), `texts` are its personal text fields."""

    path: tuple[str, ...]
    texts: tuple[str, ...]

    def objects(self, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The objects of this slot in an event's JSON `data`, each with its JSON pointer from the
        event (`/data`, `/data/attended/0`)."""
        found: list[tuple[str, dict[str, Any]]] = [("/data", data)]
        for step in self.path:
            following: list[tuple[str, dict[str, Any]]] = []
            for pointer, obj in found:
                value = obj.get(step)
                if isinstance(value, list):
                    following += [(f"{pointer}/{step}/{i}", item) for i, item in enumerate(value)
                                  if isinstance(item, dict)]
                elif isinstance(value, dict):
                    following.append((f"{pointer}/{step}", value))
            found = following
        return found


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, directly, optionally or as the items of a tuple."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (tuple, types.UnionType, typing.Union):
        for argument in typing.get_args(annotation):
            inner = _model_of(argument)
            if inner is not None:
                return inner
    return None


def _slots(model: type[BaseModel], path: tuple[str, ...]) -> list[PersonSlot]:
    fields = model.model_fields
    texts = tuple(name for name, info in fields.items() if name != PERSON_FIELD
                  and isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get(PERSONAL))
    found = [PersonSlot(path, texts)] if PERSON_FIELD in fields else []
    for name, info in fields.items():
        inner = _model_of(info.annotation)
        if inner is not None:
            found += _slots(inner, (*path, name))
    return found


_SLOTS: dict[str, tuple[PersonSlot, ...]] = {
    event_type: tuple(_slots(model, ())) for event_type, model in EVENT_TYPES.items()}


def person_slots(event_type: str) -> tuple[PersonSlot, ...]:
    """Where the persons of an event type are (empty for types that never name one)."""
    return _SLOTS.get(event_type, ())


@dataclass(frozen=True, slots=True)
class SealedEntry:
    """The sealed clear values of one object: its JSON pointer and the ciphertext (base64url)."""

    pointer: str
    ciphertext: str


def format_sealed(entries: list[SealedEntry]) -> str:
    """The `sealed` attribute: `pointer:ciphertext` entries separated by spaces."""
    return " ".join(f"{e.pointer}:{e.ciphertext}" for e in entries)


def parse_sealed(value: str) -> list[SealedEntry]:
    entries = []
    for item in value.split():
        pointer, _, ciphertext = item.rpartition(":")
        entries.append(SealedEntry(pointer, ciphertext))
    return entries
