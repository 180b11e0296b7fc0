"""The JSON Schema of each event type: the whole CloudEvent as the intake accepts it, with that
type's `data`, built from the pydantic models in `events` and `envelope`.

Two rules that the models enforce in validators are added to the exported schemas by hand, since
pydantic cannot export a validator (`_CROSS_FIELD_RULES`); comparisons between two fields
(`valid_until > valid_from`, two different groups) cannot be said in JSON Schema at all and are
only described. The intake (`parse_event`) stays the authority: an event these schemas accept can
still be refused by it for such a rule, or for `recordedtime` and `agency`, which the schemas
describe (`readOnly`) because records in Kafka carry them; and the schemas refuse the surrounding
whitespace in text that the intake strips.

`services.contracts.schema` writes them out; `asyncapi` and `openapi` refer to the same schemas.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from services.contracts.envelope import INTAKE_ATTRIBUTES, CloudEvent
from services.contracts.events import EVENT_TYPES, SanctionRecorded, WarningDelivered

__all__ = [
    "CLOUDEVENTS_CONTENT_TYPE",
    "GENERATED_NOTE",
    "REGENERATE",
    "SCHEMA_BASE_URI",
    "JsonObject",
    "cloudevent_schema",
    "component_schemas",
    "json_schemas",
    "sorted_keys",
    "summary",
]

JsonObject = dict[str, Any]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URI = "https://gvi.example/schemas/"
"""Placeholder base of the schemas' `$id`s: stable names, not a host that serves them."""
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
REGENERATE = "python -m services.contracts.schema"
GENERATED_NOTE = f"Generated from services/contracts by `{REGENERATE}`; do not edit."

_CROSS_FIELD_RULES: Mapping[type[BaseModel], JsonObject] = {
    # SanctionRecorded._names_someone
    SanctionRecorded: {"anyOf": [
        {"required": ["group_id"], "properties": {"group_id": {"type": "string"}}},
        {"required": ["person_ref"], "properties": {"person_ref": {"type": "string"}}},
    ]},
    # WarningDelivered._call_in_needs_id
    WarningDelivered: {
        "if": {"required": ["channel"], "properties": {"channel": {"const": "call_in"}}},
        "then": {"required": ["call_in_id"], "properties": {"call_in_id": {"type": "string"}}},
    },
}


def json_schemas() -> dict[str, JsonObject]:
    """One self-contained JSON Schema (draft 2020-12) per event type, by type name: the whole
    CloudEvent as the intake accepts it, with that type's `data`."""
    schemas = {}
    for event_type in EVENT_TYPES:
        data, defs = _data_schema(event_type, "#/$defs/{model}")
        schema = {
            "$schema": SCHEMA_DIALECT,
            "$id": f"{SCHEMA_BASE_URI}{event_type}.json",
            "$comment": GENERATED_NOTE,
            **_envelope_schema(event_type, data),
        }
        if defs:
            schema["$defs"] = defs
        schemas[event_type] = sorted_keys(schema)
    return schemas


def component_schemas(event_types: Iterable[str]) -> JsonObject:
    """The envelope schema of each of `event_types` (by type name) and the schema of each payload
    they name (by model name), referring to each other as `#/components/schemas/<name>`."""
    envelopes: JsonObject = {}
    data_schemas: JsonObject = {}
    for event_type in event_types:
        model = EVENT_TYPES[event_type]
        data, defs = _data_schema(event_type, "#/components/schemas/{model}")
        for name, schema in {model.__name__: data, **defs}.items():
            if data_schemas.setdefault(name, schema) != schema:
                raise ValueError(f"two different schemas are both named {name!r}")
        envelope = _envelope_schema(event_type, {"$ref": f"#/components/schemas/{model.__name__}"})
        envelopes[event_type] = sorted_keys(envelope)
    envelopes.update((name, sorted_keys(data_schemas[name])) for name in sorted(data_schemas))
    return envelopes


@functools.cache
def cloudevent_schema() -> JsonObject:
    """The envelope's schema (built once: pydantic takes a while over the union of every payload)."""
    return CloudEvent.model_json_schema()


def summary(model: type[BaseModel]) -> str:
    """The model's docstring on one line."""
    return " ".join((model.__doc__ or model.__name__).split())


def sorted_keys(value: Any) -> Any:
    """A copy with every mapping's keys sorted, so the output never depends on dict order."""
    if isinstance(value, dict):
        return {k: sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(v) for v in value]
    return value


def _data_schema(event_type: str, ref_template: str) -> tuple[JsonObject, JsonObject]:
    """The schema of `event_type`'s data, and the definitions it refers to (by `ref_template`)."""
    model = EVENT_TYPES[event_type]
    schema = model.model_json_schema(ref_template=ref_template)
    defs: JsonObject = schema.pop("$defs", {})
    rule = _CROSS_FIELD_RULES.get(model)
    if rule:
        schema.update(copy.deepcopy(rule))
    return schema, defs


def _envelope_schema(event_type: str, data: JsonObject) -> JsonObject:
    """The CloudEvent envelope schema with `type` fixed to `event_type` and `data` given."""
    envelope = copy.deepcopy(cloudevent_schema())
    properties: JsonObject = envelope["properties"]
    properties["type"] = {**properties["type"], "const": event_type}
    properties["data"] = data
    for name in INTAKE_ATTRIBUTES:
        properties[name]["readOnly"] = True
    return {
        "title": event_type,
        "description": f"{summary(EVENT_TYPES[event_type])}\n\nThe whole CloudEvent as an agency posts "
                       "it; recordedtime and agency are set by the intake (present on records in Kafka, "
                       "refused from clients).",
        "type": "object",
        "properties": properties,
        "required": envelope["required"],
        "additionalProperties": False,
    }
