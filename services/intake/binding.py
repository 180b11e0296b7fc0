"""The CloudEvents HTTP protocol binding (1.0): turns a request into raw event objects.

Three modes, chosen by the request:
* structured: `Content-Type: application/cloudevents+json`, the whole event in the body;
* batch: `Content-Type: application/cloudevents-batch+json`, a JSON array of structured events;
* binary: `ce-*` headers carry the attributes, the body is the `data` (`Content-Type` is its
  `datacontenttype`, here always JSON).

Only the transport is handled here; the contract (`services.contracts.parse_event`) decides
whether each event is valid.
"""

from __future__ import annotations

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


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, huge ints, deep nesting
        raise InvalidEvent("the body is not valid JSON",
                           [FieldError("(body)", f"not valid JSON: {exc}")]) from exc


def parse_request(headers: Mapping[str, str], body: bytes, *, max_batch: int) -> ParsedRequest:
    """`headers` must be case-insensitive (Starlette's are)."""
    media = _media_type(headers.get("content-type"))
    if media == STRUCTURED:
        return ParsedRequest(Mode.STRUCTURED, [_json(body)])
    if media == BATCH:
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
        event: dict[str, Any] = {}
        for key, value in headers.items():
            if not key.lower().startswith("ce-"):
                continue
            name = key[3:].lower()
            if name in ("data", "data_base64"):
                raise InvalidEvent("in binary mode the data is the body",
                                   [FieldError(key.lower(), "remove this header; send the data as the body")])
            try:
                event[name] = unquote(value, errors="strict")
            except UnicodeDecodeError as exc:
                raise InvalidEvent("a ce-* header is not valid percent-encoded UTF-8",
                                   [FieldError(name, "not valid percent-encoded UTF-8")]) from exc
        event["datacontenttype"] = media
        event["data"] = _json(body)
        return ParsedRequest(Mode.BINARY, [event])
    raise UnsupportedMedia(
        "post a CloudEvent: Content-Type application/cloudevents+json (structured mode), "
        "application/cloudevents-batch+json (batch mode), or ce-* headers with an "
        "application/json body (binary mode)")
