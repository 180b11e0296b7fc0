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
    ALL_TOPICS,
    DERIVED_TOPICS,
    RETRACTION_TYPE,
    SOURCE_TOPICS,
    Service,
    TopicSpec,
    owner_of,
    partition_key,
    types_owned_by,
)

__all__ = [
    "ALL_TOPICS",
    "DERIVED_TOPICS",
    "EVENT_TYPES",
    "INTAKE_ATTRIBUTES",
    "RETRACTION_TYPE",
    "SOURCE_TOPICS",
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
