"""A source record's value as a `Fact`, and a compact form in which a reader process hands facts over.

`decode_value` is how every audit command reads an event: exactly what the processor accepts
(`read_event`), with its log position. The replay's reader processes decode their records
themselves and send each fact to the replay process `packed`: plain strings, numbers, tuples and
dicts, which `marshal` carries in C. `unpacked` rebuilds the same fact (equal, its payload the
same model with the same fields given) in a fraction of the time validating the JSON again takes;
nothing is validated twice, and nothing the rules read is anything but the validated value.

A payload with a field of a kind the packed form does not carry (a nested model, e.g. a held
call-in's attendance) is packed as the record's value itself and decoded again on arrival.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from enum import Enum
from typing import Any, cast

from pydantic import AwareDatetime, BaseModel

from services.contracts import EVENT_TYPES, read_event
from services.contracts.events import EventData
from services.followthrough import Fact

__all__ = ["Packed", "decode_value", "from_time_state", "packed", "plain_form", "time_state", "unpacked"]

_SHARED: dict[Any, Any] = {}
"""One copy of each repeated value (agencies, sources, topics, group ids, an incident's or a call-in's
tuple of group ids; the sets of fields given are shared by `_given`): a million facts otherwise hold
a million copies of the same few hundred strings."""

_INTERNED_FIELDS = frozenset({"group_id", "incident_id", "call_in_id", "area", "name", "service",
                              "suspected_group_ids", "victim_group_ids", "invited_group_ids"})
_SHAREABLE = (str, tuple)


def decode_value(value: bytes | None, topic: str, partition: int, offset: int) -> Fact | None:
    """A committed source record's value as a fact with its provenance; None if it is not a valid
    event.

    Repeated strings of the fact and its payload are shared (equal values, one object), which
    changes nothing a rule or a comparison sees, only the memory a long log takes."""
    if value is None:
        return None
    try:
        event = read_event(value)  # what the processor accepts, exactly
    except (ValueError, RecursionError):
        return None
    data = event.data
    model = type(data)
    values = data.__dict__
    shared = _SHARED.setdefault
    for name in _interned_fields(model):
        if type(field := values[name]) in _SHAREABLE:  # a string, or a tuple of group ids
            values[name] = shared(field, field)
    _set(data, "__pydantic_fields_set__", _given(model, data.__pydantic_fields_set__))
    # (`type` needs no sharing: pydantic gives the discriminator's own literal string)
    return Fact._make((shared(event.source, event.source), event.id, event.type, event.time, data,
                       event.recordedtime, shared(event.agency, event.agency), shared(topic, topic),
                       partition, offset))


_GIVEN: dict[tuple[type[Any], int], list[set[str]]] = {}
"""The sets of fields given seen so far, by model and size (a model's payloads give a few sets)."""


def _given(model: type[Any], fields: set[str]) -> set[str]:
    """One set equal to `fields` (a payload's own set of fields given), shared by every payload of
    `model` that gives those fields. (A payload is frozen: nothing changes its set; and it stays a
    `set`, which pydantic's `exclude_unset` expects.)"""
    seen = _GIVEN.setdefault((model, len(fields)), [])
    for given in seen:
        if given == fields:
            return given
    seen.append(fields)
    return fields


_new = object.__new__
_set = object.__setattr__


_INTERNED_BY_MODEL: dict[type[Any], tuple[str, ...]] = {}


def _interned_fields(model: type[Any]) -> tuple[str, ...]:
    names = _INTERNED_BY_MODEL.get(model)
    if names is None:
        names = _INTERNED_BY_MODEL[model] = tuple(sorted(_INTERNED_FIELDS.intersection(model.model_fields)))
    return names


Packed = tuple[Any, ...] | bytes
"""A fact as a reader process sends it: (source, id, type, time, recordedtime, agency, payload
fields, fields given) in plain values, or the record's value when its payload has a field
the plain form does not carry."""

_Convert = Callable[[Any], Any]


def _field_kind(annotation: Any) -> tuple[str, Any] | None:
    """How a payload field travels: ("plain", None), ("time", None), ("enum", E), ("enums", E);
    None if it cannot travel as a plain value."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    options = typing.get_args(annotation) if union else (annotation,)
    kinds = {_one_kind(option) for option in options if option is not type(None)}
    return kinds.pop() if len(kinds) == 1 else None


def _one_kind(annotation: Any) -> tuple[str, Any] | None:
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if annotation in (str, int, bool):
        return ("plain", None)
    if annotation in (datetime, AwareDatetime):
        return ("time", None)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return ("enum", annotation)
    if typing.get_origin(annotation) is tuple:
        item, *rest = typing.get_args(annotation)
        if rest == [Ellipsis]:
            if _one_kind(item) == ("plain", None):
                return ("plain", None)
            if isinstance(item, type) and issubclass(item, Enum):
                return ("enums", item)
    return None


class _Spec(typing.NamedTuple):
    """How one payload model is packed: the fields that change form, each with its conversion."""

    model: type[BaseModel]
    to_plain: tuple[tuple[str, _Convert], ...]
    from_plain: tuple[tuple[str, _Convert], ...]


def _spec(model: type[BaseModel]) -> _Spec | None:
    to_plain: list[tuple[str, _Convert]] = []
    from_plain: list[tuple[str, _Convert]] = []
    for name, info in model.model_fields.items():
        kind = _field_kind(info.annotation)
        if kind is None:
            return None
        form, enum = kind
        if form == "time":
            to_plain.append((name, time_state))
            from_plain.append((name, from_time_state))
        elif form == "enum":
            to_plain.append((name, _enum_value))
            from_plain.append((name, _member_of(enum)))
        elif form == "enums":
            to_plain.append((name, _enum_values))
            from_plain.append((name, _members_of(enum)))
    return _Spec(model, tuple(to_plain), tuple(from_plain))


def time_state(value: datetime | None) -> bytes | None:
    """A time (in UTC, as every time of a validated event is) as the ten bytes `pickle` keeps of
    it: about a ninth of the cost of writing it out as text."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        raise _NotPlain
    return cast(bytes, value.__reduce__()[1][0])


_from_pickled = cast(Callable[[bytes, tzinfo], datetime], datetime)
"""`datetime(state, tz)`: how `pickle` rebuilds a time from those bytes (about half the cost of
parsing the text)."""


def from_time_state(state: bytes | None) -> datetime | None:
    """The time `time_state` gave."""
    return None if state is None else _from_pickled(state, UTC)


class _NotPlain(Exception):
    """A value the packed form does not carry: the record's value is sent instead."""


def _enum_value(value: Enum | None) -> Any:
    return None if value is None else value.value


def _enum_values(values: tuple[Enum, ...]) -> tuple[Any, ...]:
    return tuple(value.value for value in values)


def _member_of(enum: type[Enum]) -> _Convert:
    members = enum._value2member_map_.__getitem__
    return lambda value: None if value is None else members(value)


def _members_of(enum: type[Enum]) -> _Convert:
    members = enum._value2member_map_.__getitem__
    return lambda values: tuple(map(members, values))


_SPECS: dict[str, _Spec | None] = {name: _spec(model) for name, model in EVENT_TYPES.items()}
"""Each event type's packing (None: its facts travel as their record's value)."""


def packed(fact: Fact, value: bytes) -> Packed:
    """`fact` (decoded from `value` by `decode_value`) in plain values, for `marshal`. Its shared
    strings and set of fields given stay shared: `marshal` writes each shared object once per
    message."""
    plain = plain_form(fact)
    return value if plain is None else plain


def plain_form(fact: Fact) -> tuple[Any, ...] | None:
    """`packed`'s plain values of `fact`; None if its payload has a field they do not carry."""
    spec = _SPECS.get(fact.type)
    if spec is None:
        return None
    data = fact.data.__dict__.copy()
    try:
        for name, convert in spec.to_plain:
            data[name] = convert(data[name])
        return (fact.source, fact.id, fact.type, time_state(fact.time), time_state(fact.recordedtime),
                fact.agency, data, fact.data.model_fields_set)
    except _NotPlain:
        return None


def unpacked(item: Packed, topic: str, partition: int, offset: int) -> Fact | None:
    """The fact `packed` gave, at `offset` of `topic`/`partition`. (Its repeated strings arrive
    shared within each message, which is all `decode_value`'s sharing is for.)"""
    if isinstance(item, bytes):
        return decode_value(item, topic, partition, offset)
    source, event_id, event_type, time, recorded, agency, values, given = item
    spec = _SPECS[event_type]
    assert spec is not None
    for name, convert in spec.from_plain:
        values[name] = convert(values[name])
    data = _new(spec.model)
    _set(data, "__dict__", values)
    _set(data, "__pydantic_fields_set__", given)
    _set(data, "__pydantic_extra__", None)
    _set(data, "__pydantic_private__", None)
    return Fact._make((source, event_id, event_type, _from_pickled(time, UTC), cast(EventData, data),
                       None if recorded is None else _from_pickled(recorded, UTC), agency, topic,
                       partition, offset))
