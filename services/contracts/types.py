"""Small value types shared by the envelope and the payloads, and the strict rules they follow.

The contract is strict where lax parsing would let a sender's bug pass unnoticed: a JSON number is
never read from a string or a boolean, a boolean never from a string or a number, a time only from
an RFC 3339 string with an offset (never from an epoch number). Identifiers, sources and names may
not hold control characters (NUL, ESC, ...) or the bidirectional overrides and isolates that make a
text display differently from what it is (U+202A-U+202E, U+2066-U+2069); only free text (`Text`)
may hold tabs and line breaks, and bidirectional characters, which right-to-left writing needs.

Each rule is a JSON Schema `pattern` or `type` that pydantic both enforces and exports, so the
published schemas say what the intake does; `RULE_MESSAGES` says each pattern's rule in words, for
the error a sender gets. The readers of the log run the same rules on every record, so they are
checked in pydantic-core where they can be (the time's form), with one exception: the character
rules (`Printable`) came after events were first recorded, and a rule made stricter must not make a
record already in the log unreadable (docs/events.md, "Versioning"). So they are checked only for
an event as posted (`POSTED`, the intake's validation context), and readers of the log skip them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

__all__ = [
    "IDENTIFIER_PATTERN",
    "NAME_PATTERN",
    "POSTED",
    "RFC3339_PATTERN",
    "RULE_MESSAGES",
    "TEXT_PATTERN",
    "URI_PATTERN",
    "Count",
    "EventId",
    "JsonBool",
    "Name",
    "Printable",
    "Text",
    "Uri",
    "UtcDatetime",
    "to_utc",
]

_CONTROL = r"\x00-\x1f\x7f-\x9f"
_BIDI = r"\u202a-\u202e\u2066-\u2069"

NAME_PATTERN = rf"^[^{_CONTROL}{_BIDI}]*$"
"""No control character and no bidirectional override or isolate."""
URI_PATTERN = rf"^[^\s{_CONTROL}{_BIDI}]+$"
"""As `NAME_PATTERN`, and no whitespace."""
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
"""Free text: no control character but tab, line feed and carriage return."""
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"
"""Identifiers and person references: plain ASCII letters, digits, `.`, `_`, `:` and `-`."""
RFC3339_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                   r"([Zz]|[+-][0-9]{2}:[0-9]{2})$")
"""An RFC 3339 `date-time`: seconds and an offset required."""

_UNPRINTABLE = ("control characters (such as NUL, ESC or line breaks) or bidirectional override "
                "characters (U+202A to U+202E, U+2066 to U+2069); remove them")
_NOT_A_TIME = ("must be an RFC 3339 date-time string with a timezone offset, e.g. 2024-03-01T21:14:00Z "
               "or 2024-03-01T22:14:00+01:00")

RULE_MESSAGES: dict[str, str] = {
    IDENTIFIER_PATTERN: "may hold only letters (a-z, A-Z), digits, '.', '_', ':' and '-', and must start "
                        "with a letter or digit (no spaces)",
    NAME_PATTERN: f"must not contain {_UNPRINTABLE}",
    URI_PATTERN: f"must be a URI reference without spaces, {_UNPRINTABLE}",
    TEXT_PATTERN: "must not contain control characters (such as NUL or ESC) other than tab and line "
                  "breaks; remove them",
    RFC3339_PATTERN: _NOT_A_TIME,
}
"""What each pattern means, in the words of the error a sender gets when a value breaks it."""


POSTED: dict[str, bool] = {"posted": True}
"""The validation context of an event as posted to an intake: the character rules apply."""


class Printable:
    """A character rule (`NAME_PATTERN`, `URI_PATTERN`, `TEXT_PATTERN`): published in the schemas
    as the string's `pattern`, enforced for an event as posted (`POSTED`), not for a record read
    from the log (see the module). Its error is pydantic's own pattern error, so the sender gets the
    rule in words (`RULE_MESSAGES`)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._match = re.compile(pattern).match

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.with_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), "pattern": self.pattern}

    def _check(self, value: str, info: ValidationInfo) -> str:
        if info.context is POSTED and self._match(value) is None:
            raise PydanticCustomError("string_pattern_mismatch", "String should match pattern '{pattern}'",
                                      {"pattern": self.pattern})
        return value


def to_utc(value: datetime) -> datetime:
    """Normalise an aware time to UTC, so that equal instants serialise to equal bytes."""
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("time is out of range once converted to UTC") from exc


class _Rfc3339:
    """Lets through, to the time's own validator, only a `datetime` (from Python code) or a string
    that matches `RFC3339_PATTERN`. Built in pydantic-core, with no Python call per value: every
    reader of the log runs it twice per record."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        parsed = handler(source)
        return core_schema.union_schema(
            [core_schema.chain_schema([core_schema.is_instance_schema(datetime), parsed]),
             core_schema.chain_schema([core_schema.str_schema(pattern=RFC3339_PATTERN), parsed])],
            mode="left_to_right", custom_error_type="rfc3339_time", custom_error_message=_NOT_A_TIME)

    def __get_pydantic_json_schema__(self, schema: CoreSchema,
                                     handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}


def _json_integer(value: Any) -> Any:
    # A float with no fraction is a JSON integer too (JSON Schema's `integer`); pydantic refuses others.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    raise ValueError("must be a JSON number without a fraction, e.g. 3, not a string or a boolean")


def _json_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    raise ValueError("must be true or false (a JSON boolean), not a string or a number")


UtcDatetime = Annotated[AwareDatetime, _Rfc3339(), AfterValidator(to_utc)]
"""A time given as an RFC 3339 string with an explicit offset, stored and serialised in UTC."""

Count = Annotated[int, Field(ge=0, le=1000), BeforeValidator(_json_integer)]
"""A number of people: a JSON integer from 0 to 1000 (never a string or a boolean). (The bounds come
before the validator: after it, pydantic would not export them as `minimum` and `maximum`.)"""

JsonBool = Annotated[bool, BeforeValidator(_json_boolean)]
"""A boolean given as JSON `true` or `false` (never a string or a number)."""

EventId = Annotated[str, Field(min_length=1, max_length=256), Printable(NAME_PATTERN)]
"""A sender's id of an event: any printable text."""

Uri = Annotated[str, Field(min_length=1, max_length=256), Printable(URI_PATTERN)]
"""A URI reference, e.g. /agencies/police."""

Name = Annotated[str, Field(min_length=1, max_length=200), Printable(NAME_PATTERN)]
"""A short label shown as it is: a group's name, an area, a place, a service."""

Text = Annotated[str, Field(min_length=1, max_length=2000), Printable(TEXT_PATTERN)]
"""Free text: may hold tabs, line breaks and bidirectional characters; escaped wherever it is shown."""
