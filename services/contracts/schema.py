"""Export the contract as JSON Schema (one file per event type) and as one AsyncAPI 3.0 document.

Everything here is generated from the pydantic models in `events.py` and `envelope.py` and from the
topic table in `topics.py`; the checked-in files under `docs/` are outputs, never edited by hand:

    python -m services.contracts.schema            # regenerate docs/schemas/*.json, docs/asyncapi.yaml
    python -m services.contracts.schema --check    # exit 1, naming them, if the checked-in ones are stale

`intake_openapi` gives the same schemas as an intake service's OpenAPI request body, so that generic
HTTP tools (schemathesis, client generators) see what `POST /v1/events` takes in each binding mode.

Two rules that the models enforce in validators are added to the exported schemas by hand, since
pydantic cannot export a validator (`_CROSS_FIELD_RULES`); comparisons between two fields
(`valid_until > valid_from`, two different groups) cannot be said in JSON Schema at all and are
only described. The intake (`parse_event`) stays the authority: an event these schemas accept can
still be refused by it for such a rule, or for `recordedtime` and `agency`, which the schemas
describe (`readOnly`) because records in Kafka carry them; and the schemas refuse the surrounding
whitespace in text that the intake strips.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from services.contracts.envelope import INTAKE_ATTRIBUTES, CloudEvent
from services.contracts.events import EVENT_TYPES, SanctionRecorded, WarningDelivered
from services.contracts.topics import (
    ACCESS_LOG_TOPIC,
    ALERTS_TOPIC,
    AUDIT_CHECKPOINTS_TOPIC,
    DATA_PROTECTION_TOPIC,
    DERIVED_TOPICS,
    GROUP_STATE_TOPIC,
    PERSON_KEYS_TOPIC,
    RETRACTION_TYPE,
    SOURCE_TOPICS,
    Service,
    TopicSpec,
    types_owned_by,
)

__all__ = [
    "ASYNCAPI_PATH",
    "BATCH_CONTENT_TYPE",
    "CLOUDEVENTS_CONTENT_TYPE",
    "SCHEMA_BASE_URI",
    "SCHEMA_DIR",
    "asyncapi_document",
    "generated_files",
    "intake_openapi",
    "json_schemas",
    "main",
    "stale_files",
    "write_files",
]

JsonObject = dict[str, Any]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URI = "https://gvi.example/schemas/"
"""Placeholder base of the schemas' `$id`s: stable names, not a host that serves them."""
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
SCHEMA_DIR = "docs/schemas"
ASYNCAPI_PATH = "docs/asyncapi.yaml"
REGENERATE = "python -m services.contracts.schema"
_GENERATED_NOTE = f"Generated from services/contracts by `{REGENERATE}`; do not edit."
_REPO_ROOT = Path(__file__).resolve().parents[2]
_KAFKA_BINDING_VERSION = "0.5.0"

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

_DERIVED_MESSAGES: Mapping[str, tuple[str, str]] = {
    GROUP_STATE_TOPIC: ("GroupState", "The state of one group as the stream processor derives it; its "
                                      "schema is defined by the stream processor's issue."),
    ALERTS_TOPIC: ("Alert", "An operational alert (e.g. a violation by a warned group, a stalled "
                              "follow-through); its schema is defined by the stream processor's issue."),
    ACCESS_LOG_TOPIC: ("AccessLogEntry", "One read or export of person-level data, by the dashboard "
                                         "or gvi-audit export; its model is AccessEntry in "
                                         "services/contracts/access.py."),
    AUDIT_CHECKPOINTS_TOPIC: ("AuditCheckpoint", "A checkpoint of the audit trail over the source topics; "
                                                 "its schema is defined by the audit issue."),
    DATA_PROTECTION_TOPIC: ("DataProtectionRecord", "A data protection request opened or closed, or "
                                                    "persons erased (by request or retention deadline); "
                                                    "its models are in services/contracts/protection.py."),
    PERSON_KEYS_TOPIC: ("PersonKeyClaim", "A person's data key wrapped by the master key, keyed by "
                                          "pseudonym; a tombstone shreds it (services/privacy/keys.py)."),
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
            "$comment": _GENERATED_NOTE,
            **_envelope_schema(event_type, data),
        }
        if defs:
            schema["$defs"] = defs
        schemas[event_type] = _sorted(schema)
    return schemas


def asyncapi_document(version: str | None = None) -> JsonObject:
    """The AsyncAPI 3.0.0 document of every topic, its messages and who sends or receives them.
    `version` defaults to the project's version in pyproject.toml."""
    components_schemas = _component_schemas(EVENT_TYPES)
    messages: JsonObject = {t: _event_message(t, model) for t, model in EVENT_TYPES.items()}

    channels: JsonObject = {}
    operations: JsonObject = {}
    for topic in SOURCE_TOPICS:
        owned = types_owned_by(Service(topic.name))
        types = [t for t in EVENT_TYPES if t in owned]
        channels[topic.name] = {
            "address": topic.name,
            "title": f"{topic.name} (source topic)",
            "description": f"Every event accepted by the {topic.name} intake service, as agencies posted "
                           "it, kept forever. Retractions of its events are published here too.",
            "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in types},
            "bindings": _channel_bindings(topic),
        }
        channel_ref = {"$ref": f"#/channels/{topic.name}"}
        message_refs = [{"$ref": f"#/channels/{topic.name}/messages/{t}"} for t in types]
        operations[f"send{topic.name.title()}"] = {
            "action": "send",
            "channel": channel_ref,
            "title": f"The {topic.name} intake publishes",
            "summary": f"The {topic.name} intake service publishes each event it accepts over HTTP, "
                       "stamped with recordedtime and agency, keyed as the message's Kafka binding says.",
            "messages": message_refs,
        }
        operations[f"receive{topic.name.title()}"] = {
            "action": "receive",
            "channel": copy.deepcopy(channel_ref),
            "title": f"Consumers read {topic.name}",
            "summary": "The stream processor and the audit replay consume every event; they ignore "
                       "types they do not know.",
            "messages": copy.deepcopy(message_refs),
        }
    for topic in DERIVED_TOPICS:
        name, description = _DERIVED_MESSAGES[topic.name]
        channels[topic.name] = {
            "address": topic.name,
            "title": f"{topic.name} (derived topic)",
            "description": description,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": _channel_bindings(topic),
        }
        messages[name] = {
            "name": name,
            "title": name,
            "summary": description,
            "contentType": "application/json",
            "payload": {"type": "object"},
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "GVI follow-through events",
            "version": version or _project_version(),
            "description": (
                "The events that agency systems post to the GVI intake services (as CloudEvents 1.0 "
                "over HTTP) and that the intake publishes to Kafka, one source topic per service, plus "
                "the topics derived from them. Each event's `data` schema is decided by its `type`. "
                f"{_GENERATED_NOTE} The catalogue for agency developers is docs/events.md."
            ),
        },
        "defaultContentType": CLOUDEVENTS_CONTENT_TYPE,
        "servers": {
            "kafka": {
                "host": "kafka.gvi.example:9092",
                "protocol": "kafka",
                "description": "Placeholder: each deployment names its own brokers.",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": components_schemas, "messages": messages},
    }


def intake_openapi(event_types: Iterable[str], *, max_batch: int) -> tuple[JsonObject, JsonObject]:
    """The OpenAPI 3.1 description of `POST /v1/events` for an intake taking `event_types`: the
    operation's fields (request body in the three CloudEvents HTTP binding modes, the `ce-*` headers
    of binary mode, bearer authentication) and the component schemas they refer to, to be merged
    into the service's OpenAPI document (`#/components/schemas/...`)."""
    types = [t for t in EVENT_TYPES if t in set(event_types)]
    events = {"oneOf": [{"$ref": f"#/components/schemas/{t}"} for t in types]}
    data = {"anyOf": [{"$ref": f"#/components/schemas/{EVENT_TYPES[t].__name__}"} for t in types]}
    time = {k: v for k, v in _cloudevent_schema()["properties"]["time"].items()
            if k not in ("title", "description")}
    # Header values are printable ASCII; anything else is percent-encoded UTF-8.
    text, uri = r"^[!-~]([ -~]*[!-~])?$", r"^[!-~]+$"
    headers: JsonObject = {
        "specversion": {"type": "string", "enum": ["1.0"]},
        "id": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": text},
        "source": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": uri},
        "type": {"type": "string", "enum": types},
        "time": time,
        "subject": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": text},
        "dataschema": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": uri},
    }
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
        } for name, schema in headers.items()],
        "security": [{"agencyKey": []}],
    }
    components = {"schemas": _component_schemas(types), "securitySchemes": {"agencyKey": {
        "type": "http", "scheme": "bearer", "description": "The agency's API key."}}}
    return _sorted(operation), components


def generated_files() -> dict[str, str]:
    """Every generated file's text, by path relative to the repository root."""
    files = {f"{SCHEMA_DIR}/{t}.json": json.dumps(s, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
             for t, s in json_schemas().items()}
    files[ASYNCAPI_PATH] = f"# {_GENERATED_NOTE}\n" + yaml.dump(
        asyncapi_document(), Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=100)
    return files


def stale_files(root: Path = _REPO_ROOT) -> list[str]:
    """Generated files that are missing or differ under `root`, and schema files that no type
    generates any more."""
    return _stale(root, generated_files())


def write_files(root: Path = _REPO_ROOT) -> list[str]:
    """Write every generated file under `root`, remove orphaned schema files; the paths changed."""
    expected = generated_files()
    changed = _stale(root, expected)
    for path in changed:
        target = root / path
        if path in expected:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(expected[path], encoding="utf-8")
        else:
            target.unlink()
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=REGENERATE, description="Generate the contract's JSON Schemas "
                                     "and AsyncAPI document from services/contracts.")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if the checked-in files are stale")
    parser.add_argument("--root", type=Path, default=_REPO_ROOT, help="the repository root")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.root)
        if stale:
            print("The generated contract documents are stale (they no longer match services/contracts):",
                  *(f"  {p}" for p in stale), f"Regenerate them with `{REGENERATE}` and commit the result.",
                  sep="\n", file=sys.stderr)
            return 1
        print("The generated contract documents are up to date.")
        return 0
    changed = write_files(args.root)
    print("\n".join(f"wrote {p}" for p in changed) or "nothing to do: all generated files are up to date")
    return 0


def _component_schemas(event_types: Iterable[str]) -> JsonObject:
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
        envelopes[event_type] = _sorted(envelope)
    envelopes.update((name, _sorted(data_schemas[name])) for name in sorted(data_schemas))
    return envelopes


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
    envelope = copy.deepcopy(_cloudevent_schema())
    properties: JsonObject = envelope["properties"]
    properties["type"] = {**properties["type"], "const": event_type}
    properties["data"] = data
    for name in INTAKE_ATTRIBUTES:
        properties[name]["readOnly"] = True
    return {
        "title": event_type,
        "description": f"{_summary(EVENT_TYPES[event_type])}\n\nThe whole CloudEvent as an agency posts "
                       "it; recordedtime and agency are set by the intake (present on records in Kafka, "
                       "refused from clients).",
        "type": "object",
        "properties": properties,
        "required": envelope["required"],
        "additionalProperties": False,
    }


@functools.cache
def _cloudevent_schema() -> JsonObject:
    """The envelope's schema (built once: pydantic takes a while over the union of every payload)."""
    return CloudEvent.model_json_schema()


def _event_message(event_type: str, model: type[BaseModel]) -> JsonObject:
    return {
        "name": event_type,
        "title": model.__name__,
        "summary": _summary(model),
        "contentType": CLOUDEVENTS_CONTENT_TYPE,
        "payload": {
            "description": "The record in Kafka: the event as posted, in canonical JSON, stamped by the "
                           "intake with recordedtime and agency, and sealed: each person_ref is the "
                           "person's pseudonym, each x-personal text field is [sealed], and the clear "
                           "values are encrypted in the sealed attribute (docs/events.md, Personal data).",
            "allOf": [
                {"$ref": f"#/components/schemas/{event_type}"},
                {"required": sorted(INTAKE_ATTRIBUTES - {"sealed"}),
                 "properties": {name: {"type": "string"} for name in sorted(INTAKE_ATTRIBUTES)}},
            ],
        },
        "bindings": {"kafka": {
            "key": {"type": "string", "description": _key_rule(event_type)},
            "bindingVersion": _KAFKA_BINDING_VERSION,
        }},
    }


def _key_rule(event_type: str) -> str:
    """How `topics.partition_key` keys `event_type`, in words."""
    if event_type == RETRACTION_TYPE:
        return "The key of the event it retracts (the retraction follows it on the same partition)."
    if event_type.startswith("gvi.incident."):
        return "incident:<incident_id>, so that a report and its later attributions stay in order."
    if event_type.startswith("gvi.callin."):
        return "call-in:<call_in_id>, so that a call-in's scheduling and holding stay in order."
    if event_type.startswith("gvi.alert."):
        return "alert:<alert_id>, so that the triage events of one alert stay in order."
    if event_type.startswith("gvi.sanction."):
        return ("group_id when the sanction names a group; otherwise person:<SHA-256 of person_ref>, which "
                "the processor resolves to groups through membership assessments.")
    if "group_id" in EVENT_TYPES[event_type].model_fields:
        return "group_id, so that all of one group's events stay in order."
    raise ValueError(f"no key rule described for {event_type}")


def _channel_bindings(topic: TopicSpec) -> JsonObject:
    config: JsonObject = {}
    for name, value in topic.config.items():
        if name in ("retention.ms", "retention.bytes", "delete.retention.ms", "max.message.bytes"):
            config[name] = int(value)
        elif name == "cleanup.policy":
            config[name] = value.split(",")
        elif name not in _CLEANER_TIMING:
            raise ValueError(f"topic {topic.name}: no AsyncAPI Kafka binding for config {name!r}")
    binding: JsonObject = {"topic": topic.name, "topicConfiguration": config,
                           "bindingVersion": _KAFKA_BINDING_VERSION}
    if topic.partitions is not None:
        binding["partitions"] = topic.partitions
    return {"kafka": binding}


_CLEANER_TIMING = frozenset({"min.cleanable.dirty.ratio", "segment.ms", "max.compaction.lag.ms"})
"""Settings of when the log cleaner runs, which the binding has no field for and which are no part
of the contract with a consumer."""


def _summary(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or model.__name__).split())


def _sorted(value: Any) -> Any:
    """A copy with every mapping's keys sorted, so the output never depends on dict order."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _stale(root: Path, expected: Mapping[str, str]) -> list[str]:
    stale = [p for p, text in expected.items()
             if not (root / p).is_file() or (root / p).read_text(encoding="utf-8") != text]
    directory = root / SCHEMA_DIR
    if directory.is_dir():
        found = (f"{SCHEMA_DIR}/{p.name}" for p in directory.glob("*.json"))
        stale += [path for path in found if path not in expected]
    return sorted(stale)


def _project_version() -> str:
    pyproject = _REPO_ROOT / "pyproject.toml"
    if pyproject.is_file():
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
    return metadata.version("gvi-follow-through")


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated values out in full: no YAML anchors, so the document reads on its own."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


if __name__ == "__main__":
    raise SystemExit(main())
