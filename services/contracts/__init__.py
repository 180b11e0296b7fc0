"""The event contract shared by every service: CloudEvents envelopes, typed payloads, topics.

No service imports another service's internals; they all import this package.
"""

from services.contracts.envelope import (
    INTAKE_ATTRIBUTES,
    CloudEvent,
    EventInvalid,
    FieldError,
    canonical_json,
    parse_event,
    read_event,
)
from services.contracts.events import EVENT_TYPES
from services.contracts.topics import (
    ACCESS_LOG_TOPIC,
    ALERTS_TOPIC,
    ALL_TOPICS,
    AUDIT_CHECKPOINTS_TOPIC,
    DATA_PROTECTION_TOPIC,
    DERIVED_TOPICS,
    GROUP_STATE_TOPIC,
    PERSON_KEYS_TOPIC,
    RETRACTION_TYPE,
    SOURCE_TOPIC_NAMES,
    SOURCE_TOPICS,
    Service,
    TopicSpec,
    owner_of,
    partition_key,
    types_owned_by,
)

__all__ = [
    "ACCESS_LOG_TOPIC",
    "ALERTS_TOPIC",
    "ALL_TOPICS",
    "AUDIT_CHECKPOINTS_TOPIC",
    "DATA_PROTECTION_TOPIC",
    "DERIVED_TOPICS",
    "EVENT_TYPES",
    "GROUP_STATE_TOPIC",
    "INTAKE_ATTRIBUTES",
    "PERSON_KEYS_TOPIC",
    "RETRACTION_TYPE",
    "SOURCE_TOPICS",
    "SOURCE_TOPIC_NAMES",
    "CloudEvent",
    "EventInvalid",
    "FieldError",
    "Service",
    "TopicSpec",
    "canonical_json",
    "owner_of",
    "parse_event",
    "partition_key",
    "read_event",
    "types_owned_by",
]
