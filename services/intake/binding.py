"""The CloudEvents HTTP protocol binding (1.0): turns a request into raw event objects.

Three modes, chosen by the request:
* structured: `Content-Type: application/cloudevents+json`, the whole event in the body;
* batch: `Content-Type: application/cloudevents-batch+json`, a JSON array of structured events;
* binary: `ce-*` headers carry the attributes, the body is the `data` (`Content-Type` is its
  `datacontenttype`, here always JSON).

Only the transport is handled here; the contract (`services.contracts.parse_event`) decides
whether each event is valid. The transport is strict too: the body is JSON (RFC 8259) in UTF-8,
without a byte order mark, with no key repeated in one object and no `NaN` or `Infinity`; a
declared `charset` must be utf-8; in binary mode each `ce-*` header comes once, in ASCII
(percent-encoded UTF-8 for anything else).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import unquote

from services.contracts import FieldError
from services.intake.errors import InvalidEvent, PayloadTooLarge, UnsupportedMedia

__all__ = ["Mode", "ParsedRequest", "parse_request"]

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON_TYPES = ("application/json",)


class Mode(StrEnum):
    STRUCTURED = "structured"
    BINARY = "binary"
    BATCH = "batch"


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    mode: Mode
    events: list[Any]


_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # UTF-32's begin as UTF-16's


def _media_type(content_type: str | None) -> tuple[str, str | None]:
    """The media type, lower case, and the declared charset if any."""
    media, *parameters = (content_type or "").split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _require_utf8(charset: str | None) -> None:
    if charset not in (None, "utf-8"):
        raise UnsupportedMedia(f"charset {charset!r} is not accepted: encode the body as UTF-8 and "
                               "declare charset=utf-8 or no charset")


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object that names each key once (json.loads would keep the last of a repeated key)."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return found


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON number")


def _not_utf8(why: str) -> InvalidEvent:
    return InvalidEvent("the body must be JSON encoded as UTF-8",
                        [FieldError("(body)", f"{why}; send the JSON as UTF-8 (RFC 8259), without a BOM")])


def _json(body: bytes) -> Any:
    if body.startswith(_BOMS):
        raise _not_utf8("the body starts with a byte order mark (BOM)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(f"byte {exc.start} is not UTF-8") from exc
    if "\x00" in text:
        raise _not_utf8("the body holds NUL bytes, as UTF-16 or UTF-32 text does")
    try:
        return json.loads(text, object_pairs_hook=_object, parse_constant=_not_json)
    except _RepeatedKey as exc:
        raise InvalidEvent("a JSON object in the body repeats a key", [FieldError(
            "(body)", f"the key {exc.key!r} appears more than once in one object; send it once")]) from exc
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, NaN, huge ints, deep nesting
        raise InvalidEvent("the body is not valid JSON",
                           [FieldError("(body)", f"not valid JSON: {exc}")]) from exc


def _attributes(headers: Mapping[str, str]) -> dict[str, Any]:
    """The event's attributes from its `ce-*` headers (binary mode)."""
    event: dict[str, Any] = {}
    for key, value in headers.items():
        if not key.lower().startswith("ce-"):
            continue
        name = key[3:].lower()
        if name in ("data", "data_base64"):
            raise InvalidEvent("in binary mode the data is the body",
                               [FieldError(key.lower(), "remove this header; send the data as the body")])
        if name in event:
            raise InvalidEvent("a ce-* header is repeated", [FieldError(
                name, f"the header ce-{name} appears more than once; send it once")])
        if not value.isascii():
            raise InvalidEvent("a ce-* header is not ASCII", [FieldError(
                name, "percent-encode characters outside ASCII as UTF-8, e.g. %C3%A4 for \u00e4")])
        try:
            event[name] = unquote(value, errors="strict")
        except UnicodeDecodeError as exc:
            raise InvalidEvent("a ce-* header is not valid percent-encoded UTF-8",
                               [FieldError(name, "not valid percent-encoded UTF-8")]) from exc
    return event


def parse_request(headers: Mapping[str, str], body: bytes, *, max_batch: int) -> ParsedRequest:
    """`headers` must be case-insensitive (Starlette's are)."""
    media, charset = _media_type(headers.get("content-type"))
    if media == STRUCTURED:
        _require_utf8(charset)
        return ParsedRequest(Mode.STRUCTURED, [_json(body)])
    if media == BATCH:
        _require_utf8(charset)
        events = _json(body)
        if not isinstance(events, list):
            raise InvalidEvent("a batch must be a JSON array of events",
                               [FieldError("(body)", "must be a JSON array")])
        if not events:
            raise InvalidEvent("a batch must hold at least one event",
                               [FieldError("(body)", "empty batch")])
        if len(events) > max_batch:
            raise PayloadTooLarge(f"a batch holds at most {max_batch} events; this one has "
                                  f"{len(events)}: split it")
        return ParsedRequest(Mode.BATCH, events)
    if "ce-specversion" in headers:
        media = media or "application/json"  # some SDKs leave JSON data's Content-Type out
        if media not in JSON_TYPES:
            raise UnsupportedMedia("in binary mode the body is the event's data and must be "
                                   "Content-Type: application/json")
        _require_utf8(charset)
        event = _attributes(headers)
        event["datacontenttype"] = media
        event["data"] = _json(body)
        return ParsedRequest(Mode.BINARY, [event])
    raise UnsupportedMedia(
        "post a CloudEvent: Content-Type application/cloudevents+json (structured mode), "
        "application/cloudevents-batch+json (batch mode), or ce-* headers with an "
        "application/json body (binary mode)")
