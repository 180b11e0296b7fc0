"""The contract as an intake service's OpenAPI request body, so that generic HTTP tools
(schemathesis, client generators) see what `POST /v1/events` takes in each binding mode."""

from __future__ import annotations

from collections.abc import Iterable

from services.contracts.event_schemas import (
    CLOUDEVENTS_CONTENT_TYPE,
    JsonObject,
    cloudevent_schema,
    component_schemas,
    sorted_keys,
)
from services.contracts.events import EVENT_TYPES

__all__ = ["BATCH_CONTENT_TYPE", "intake_openapi"]

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"


def intake_openapi(event_types: Iterable[str], *, max_batch: int) -> tuple[JsonObject, JsonObject]:
    """The OpenAPI 3.1 description of `POST /v1/events` for an intake taking `event_types`: the
    operation's fields (request body in the three CloudEvents HTTP binding modes, the `ce-*` headers
    of binary mode, bearer authentication) and the component schemas they refer to, to be merged
    into the service's OpenAPI document (`#/components/schemas/...`)."""
    types = [t for t in EVENT_TYPES if t in set(event_types)]
    events = {"oneOf": [{"$ref": f"#/components/schemas/{t}"} for t in types]}
    data = {"anyOf": [{"$ref": f"#/components/schemas/{EVENT_TYPES[t].__name__}"} for t in types]}
    operation = {
        "requestBody": {"required": True, "content": {
            CLOUDEVENTS_CONTENT_TYPE: {"schema": events},
            BATCH_CONTENT_TYPE: {"schema": {
                "type": "array", "minItems": 1, "maxItems": max_batch, "items": events}},
            "application/json": {"schema": data},
        }, "description": "One CloudEvent (structured mode), a JSON array of them (batch mode), or "
                          "binary mode: the event's data as an application/json body, its attributes "
                          "in ce-* headers (non-ASCII characters percent-encoded as UTF-8). JSON in "
                          "UTF-8 only, each key once per object."},
        "parameters": [{
            "name": f"ce-{name}", "in": "header", "required": False,
            "description": f"Binary mode only (required there, except ce-subject and ce-dataschema): "
                           f"the event's {name}.",
            "schema": schema,
        } for name, schema in _binary_headers(types).items()],
        "security": [{"agencyKey": []}],
    }
    components = {"schemas": component_schemas(types), "securitySchemes": {"agencyKey": {
        "type": "http", "scheme": "bearer", "description": "The agency's API key."}}}
    return sorted_keys(operation), components


def _binary_headers(types: list[str]) -> JsonObject:
    """The schema of each `ce-*` header of binary mode, by attribute name."""
    time = {k: v for k, v in cloudevent_schema()["properties"]["time"].items()
            if k not in ("title", "description")}
    # Header values are printable ASCII; anything else is percent-encoded UTF-8.
    text, uri = r"^[!-~]([ -~]*[!-~])?$", r"^[!-~]+$"
    return {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": text},
        "source": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": uri},
        "type": {"type": "string", "enum": types},
        "time": time,
        "subject": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": text},
        "dataschema": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": uri},
    }
