"""The AsyncAPI 3.0 document of the contract: every topic, its messages and who sends or receives
them, from the event models and the topic table in `topics.py`. `services.contracts.schema` writes
it to docs/asyncapi.yaml."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel

from services.contracts.envelope import INTAKE_ATTRIBUTES
from services.contracts.event_schemas import (
    CLOUDEVENTS_CONTENT_TYPE,
    GENERATED_NOTE,
    JsonObject,
    component_schemas,
    summary,
)
from services.contracts.events import EVENT_TYPES
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

__all__ = ["asyncapi_document"]

_REPO_ROOT = Path(__file__).resolve().parents[2]
_KAFKA_BINDING_VERSION = "0.5.0"

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
    DATA_PROTECTION_TOPIC: ("DataProtectionRecord", "A data protection request opened or closed, "
                                                    "persons erased (by request or retention deadline), "
                                                    "or the claims re-wrapped after a master key rotation "
                                                    "(keyed master-key); its models are in "
                                                    "services/contracts/protection.py."),
    PERSON_KEYS_TOPIC: ("PersonKeyClaim", "A person's data key wrapped by the master key, keyed by "
                                          "pseudonym; a tombstone shreds it (services/privacy/keys.py)."),
}

_CLEANER_TIMING = frozenset({"min.cleanable.dirty.ratio", "segment.ms", "max.compaction.lag.ms"})
"""Settings of when the log cleaner runs, which the binding has no field for and which are no part
of the contract with a consumer."""


def asyncapi_document(version: str | None = None) -> JsonObject:
    """The AsyncAPI 3.0.0 document of every topic, its messages and who sends or receives them.
    `version` defaults to the project's version in pyproject.toml."""
    components_schemas = component_schemas(EVENT_TYPES)
    messages: JsonObject = {t: _event_message(t, model) for t, model in EVENT_TYPES.items()}
    channels: JsonObject = {}
    operations: JsonObject = {}
    for topic in SOURCE_TOPICS:
        channels[topic.name], topic_operations = _source_channel(topic)
        operations.update(topic_operations)
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
                f"{GENERATED_NOTE} The catalogue for agency developers is docs/events.md."
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


def _source_channel(topic: TopicSpec) -> tuple[JsonObject, JsonObject]:
    """A source topic's channel, and its two operations (the intake sends, consumers receive)."""
    owned = types_owned_by(Service(topic.name))
    types = [t for t in EVENT_TYPES if t in owned]
    channel = {
        "address": topic.name,
        "title": f"{topic.name} (source topic)",
        "description": f"Every event accepted by the {topic.name} intake service, as agencies posted "
                       "it, kept forever. Retractions of its events are published here too.",
        "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in types},
        "bindings": _channel_bindings(topic),
    }
    channel_ref = {"$ref": f"#/channels/{topic.name}"}
    message_refs = [{"$ref": f"#/channels/{topic.name}/messages/{t}"} for t in types]
    operations = {
        f"send{topic.name.title()}": {
            "action": "send",
            "channel": channel_ref,
            "title": f"The {topic.name} intake publishes",
            "summary": f"The {topic.name} intake service publishes each event it accepts over HTTP, "
                       "stamped with recordedtime and agency, keyed as the message's Kafka binding says.",
            "messages": message_refs,
        },
        f"receive{topic.name.title()}": {
            "action": "receive",
            "channel": copy.deepcopy(channel_ref),
            "title": f"Consumers read {topic.name}",
            "summary": "The stream processor and the audit replay consume every event; they ignore "
                       "types they do not know.",
            "messages": copy.deepcopy(message_refs),
        },
    }
    return channel, operations


def _event_message(event_type: str, model: type[BaseModel]) -> JsonObject:
    return {
        "name": event_type,
        "title": model.__name__,
        "summary": summary(model),
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


def _project_version() -> str:
    pyproject = _REPO_ROOT / "pyproject.toml"
    if pyproject.is_file():
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
    return metadata.version("gvi-follow-through")
