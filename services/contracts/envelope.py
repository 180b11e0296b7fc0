"""The CloudEvents 1.0 envelope every event travels in, and its one canonical serialisation.

`parse_event` is the only way in: it validates the envelope and the type's `data` together and
reports every offending field at once (`EventInvalid`), so that an agency fixes its event in one go.
`CloudEvent.to_json` is the only way out: canonical JSON (sorted keys, no insignificant whitespace,
times in UTC), so equal events are equal bytes and a content digest is stable across restarts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from services.contracts.events import EVENT_TYPES, EventData, EventRetracted
from services.contracts.types import POSTED, RULE_MESSAGES, EventId, Uri, UtcDatetime

__all__ = [
    "INTAKE_ATTRIBUTES",
    "CloudEvent",
    "EventInvalid",
    "FieldError",
    "canonical_json",
    "digest_of",
    "parse_event",
    "read_event",
]

INTAKE_ATTRIBUTES = frozenset({"recordedtime", "agency", "sealed"})
"""Extension attributes that only the intake sets, on acceptance."""

class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event whose `data` is one of the contract's payloads.

    `time` is when it happened in the world; `recordedtime` is when the intake accepted it, and
    `agency` the authenticated sender; `sealed` holds the encrypted personal data of an event that
    names a person. All three are set by the intake, never by the client.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Annotated[Literal["1.0"], Field(description="The CloudEvents version: always 1.0.")]
    id: Annotated[EventId, Field(
        description="The sender's unique id for the event, unique per source across all event types "
                    "and intake services. Posting the same id again with the same content is a "
                    "harmless repeat; with different content it is refused, at any intake.")]
    source: Annotated[Uri, Field(
        description="A URI reference naming the sending system, e.g. /agencies/police.")]
    type: Annotated[str, Field(description="The event type, e.g. gvi.incident.reported.v1; decides the "
                                           "schema of data.")]
    time: Annotated[UtcDatetime, Field(
        description="When it happened in the world: RFC 3339 with an offset, normalised to UTC.")]
    subject: Annotated[EventId | None, Field(
        description="Optional subject of the event, e.g. an identifier; no personal data.")] = None
    datacontenttype: Annotated[Literal["application/json"], Field(
        description="The media type of data: always application/json.")] = "application/json"
    dataschema: Annotated[Uri | None, Field(description="Optional URI of the schema data follows.")] = None
    data: Annotated[EventData, Field(description="The payload; its schema is decided by type.")]
    recordedtime: Annotated[UtcDatetime | None, Field(
        description="Set by the intake on acceptance (UTC); present on every record in Kafka; refused "
                    "from clients.")] = None
    agency: Annotated[str | None, Field(
        min_length=1, max_length=64,
        description="Set by the intake: the authenticated agency that posted the event; present on every "
                    "record in Kafka; refused from clients.")] = None
    sealed: Annotated[str | None, Field(
        min_length=1, max_length=500_000, pattern=r"^\S+(?: \S+)*$",
        description="Set by the intake on an event that names a person: the clear person references "
                    "and personal text of the event, encrypted with each person's data key "
                    "(`pointer:ciphertext` entries separated by spaces; see docs/events.md, Personal "
                    "data); refused from clients.")] = None

    def to_dict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict, absent optional attributes left out."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_json(self) -> bytes:
        """Canonical JSON bytes: the form written to Kafka."""
        return canonical_json(self.to_dict())

    def submitted(self) -> dict[str, Any]:
        """The event as the client sent it: everything but the intake's attributes."""
        return {k: v for k, v in self.to_dict().items() if k not in INTAKE_ATTRIBUTES}

    def content_digest(self) -> str:
        """SHA-256 of `submitted()` in canonical JSON. Two posts with the same id are the same
        event exactly when their digests are equal."""
        return digest_of(self.submitted())

    def accepted(self, *, recordedtime: datetime, agency: str) -> CloudEvent:
        """A copy stamped by the intake on acceptance."""
        return self.model_copy(update={"recordedtime": recordedtime, "agency": agency})


def digest_of(submitted: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(submitted)).hexdigest()


def canonical_json(value: Any) -> bytes:
    """Keys sorted, no whitespace, UTF-8 with only what JSON must escape escaped: the bytes of
    `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()`, made by
    orjson (several times faster). The two agree on everything the contracts hold (string keys,
    strings, booleans, null, 64-bit integers, and floats written without an exponent: the only floats
    are days rounded to hundredths); they would differ on a float below 1e-4, which orjson writes
    without an exponent (0.00001, not 1e-05), and on NaN. Tested against `json.dumps`. A time or a
    dataclass is refused (TypeError), as `json.dumps` refuses it: orjson would write its own form."""
    return orjson.dumps(value, option=_CANONICAL)


_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason an event was refused: where (`field`, dotted, e.g. `data.kind`) and why."""

    field: str
    message: str


class EventInvalid(ValueError):
    """The event breaks the contract; `errors` lists every offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


def _field_errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[FieldError]:
    out = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = prefix + tuple(err["loc"])
        field = ".".join(str(p) for p in loc) or "(event)"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field; remove it"
        elif err["type"] == "string_pattern_mismatch" and err["ctx"]["pattern"] in RULE_MESSAGES:
            message = RULE_MESSAGES[err["ctx"]["pattern"]]
        elif err["type"] == "string_unicode":
            message = "is not valid Unicode text (e.g. a lone surrogate escape such as \\ud800); fix the text"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        out.append(FieldError(field, message))
    return out


def parse_event(raw: Mapping[str, Any], *, allow_intake_attributes: bool = False) -> CloudEvent:
    """Validate a CloudEvent given as a JSON object (structured mode) against the contract.

    Raises `EventInvalid` listing every problem: envelope attributes, an unknown `type`, and each
    field of `data` checked against the type's model. Unless `allow_intake_attributes` (consumers
    reading the log), `recordedtime` and `agency` are refused, since only the intake sets them, and
    the character rules apply (`types.Printable`: readers of the log skip them).
    """
    context = None if allow_intake_attributes else POSTED
    if not isinstance(raw, Mapping):
        raise EventInvalid([FieldError("(event)", "must be a JSON object")])
    errors: list[FieldError] = []
    if not allow_intake_attributes:
        errors += [FieldError(a, "is set by the intake on acceptance; remove it")
                   for a in sorted(INTAKE_ATTRIBUTES & raw.keys())]
    event_type = raw.get("type")
    data_model = EVENT_TYPES.get(event_type) if isinstance(event_type, str) else None
    if isinstance(event_type, str) and data_model is None:
        errors.append(FieldError("type", f"unknown event type {event_type!r}; known types: "
                                         + ", ".join(sorted(EVENT_TYPES))))
    data: Any = None
    if data_model is not None:
        if "data" not in raw:
            errors.append(FieldError("data", "Field required"))
        else:
            try:
                data = data_model.model_validate(raw["data"], context=context)
            except ValidationError as exc:
                errors += _field_errors(exc, ("data",))
    envelope = {k: v for k, v in raw.items() if k != "data"}
    if not allow_intake_attributes:
        envelope = {k: v for k, v in envelope.items() if k not in INTAKE_ATTRIBUTES}
    if data is not None and not errors:
        try:
            return CloudEvent.model_validate({**envelope, "data": data}, context=context)
        except ValidationError as exc:
            raise EventInvalid(_field_errors(exc)) from exc
    try:
        # Validated with a placeholder payload so that envelope errors are reported together with
        # the data's.
        CloudEvent.model_validate({**envelope, "data": _PLACEHOLDER}, context=context)
    except ValidationError as exc:
        errors += [e for e in _field_errors(exc) if not e.field.startswith("data")]
    raise EventInvalid(errors or [FieldError("type", "Field required")])


_PLACEHOLDER = EventRetracted(retracted_event_id="x", reason="x")


def _as_read() -> TypeAdapter[Any]:
    """The envelope with each type's own `data` model, chosen by `type`: the models, fields and
    validators `parse_event` applies, in one pass from JSON bytes."""
    models: list[Any] = []
    for i, (name, model) in enumerate(EVENT_TYPES.items()):
        literal: Any = Literal[name]
        models.append(create_model(f"Read_{i}", __base__=CloudEvent, type=(literal, ...), data=(model, ...)))
    union: Any = Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007
    # Only the names of fields are worth pydantic's cache of strings: the values (event ids, times,
    # references) are mostly unique, and caching them cost about a seventh of reading an event.
    return TypeAdapter(union, config=ConfigDict(cache_strings="keys"))


_READ = _as_read()


def read_event(value: bytes) -> CloudEvent:
    """An accepted event as read from the log (`recordedtime` and `agency` allowed), from its JSON
    bytes. It accepts exactly what `parse_event(json.loads(value), allow_intake_attributes=True)`
    accepts, several times faster, since it builds no error report: readers of the log only skip
    what is not an event. Raises `ValidationError` (a `ValueError`) otherwise."""
    event: CloudEvent = _READ.validate_json(value)
    return event
