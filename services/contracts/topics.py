"""Kafka topics, which service owns which event type, and how events are keyed.

Source topics hold what agencies posted, forever (`retention.ms=-1`): one topic per intake service.
The key decides the partition, and so what stays in order:

* events about one group (registration, membership, relation, warning, support, exit, and sanctions
  that name a group) are keyed by `group_id`, so all of one group's events stay in order on one
  partition of their topic;
* events about several groups or none are keyed by their own entity, with a prefix so keys never
  collide with group ids: incidents by `incident:<incident_id>` (a report and its later
  attributions stay in order; the groups they name can change), call-ins by `call-in:<call_in_id>`
  (scheduled and held stay in order), the triage of an alert by `alert:<alert_id>` (an alert's
  triage events stay in order);
* a sanction that names only a person is keyed by `person:<sha-256 of person_ref>` (of the sealed
  event's pseudonym: see `services.contracts.personal`), so one person's sanctions stay in order
  while keys (which tools show and log more readily than values) carry no person reference; which
  groups it concerns is only known through membership assessments, which
  the processor resolves;
* a retraction gets the key and topic of the event it retracts, so that it follows that event.

The processor therefore re-keys incidents, call-ins and person-only sanctions to groups itself
(see docs/events.md); no consumer may assume that one partition holds everything about a group.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from services.contracts.events import (
    AlertTriaged,
    CallInHeld,
    CallInScheduled,
    EventRetracted,
    GroupRelationEnded,
    GroupRelationRecorded,
    IncidentAttributed,
    IncidentReported,
    SanctionRecorded,
)

if TYPE_CHECKING:
    from services.contracts.envelope import CloudEvent

__all__ = [
    "ACCESS_LOG_TOPIC",
    "ALERTS_TOPIC",
    "ALL_TOPICS",
    "AUDIT_CHECKPOINTS_TOPIC",
    "DATA_PROTECTION_TOPIC",
    "DERIVED_TOPICS",
    "GROUP_STATE_TOPIC",
    "PERSON_KEYS_TOPIC",
    "RETRACTION_TYPE",
    "SOURCE_TOPICS",
    "SOURCE_TOPIC_NAMES",
    "Service",
    "TopicSpec",
    "owner_of",
    "partition_key",
    "types_owned_by",
]

RETRACTION_TYPE = "gvi.event.retracted.v1"


class Service(StrEnum):
    """The intake services; each owns a set of event types and one source topic."""

    INCIDENTS = "incidents"
    NOTIFICATIONS = "notifications"
    SANCTIONS = "sanctions"

    @property
    def topic(self) -> str:
        return self.value


_PREFIX_OWNERS = {"gvi.incident.": Service.INCIDENTS, "gvi.sanction.": Service.SANCTIONS}


def owner_of(event_type: str) -> Service | None:
    """The service that takes `event_type`; None for the retraction type, which every service
    takes for the events it owns."""
    if event_type == RETRACTION_TYPE:
        return None
    for prefix, service in _PREFIX_OWNERS.items():
        if event_type.startswith(prefix):
            return service
    return Service.NOTIFICATIONS


def types_owned_by(service: Service) -> frozenset[str]:
    from services.contracts.events import EVENT_TYPES

    return frozenset(t for t in EVENT_TYPES if owner_of(t) in (service, None))


def partition_key(event: CloudEvent) -> str:
    """The Kafka key of an event (see the module docstring). Retractions are keyed by the intake
    with the key of the event they retract; this function refuses them."""
    data = event.data
    match data:
        case EventRetracted():
            raise ValueError("a retraction takes the key of the event it retracts")
        case IncidentReported() | IncidentAttributed():
            return f"incident:{data.incident_id}"
        case CallInScheduled() | CallInHeld():
            return f"call-in:{data.call_in_id}"
        case AlertTriaged():
            return f"alert:{data.alert_id}"
        case SanctionRecorded(group_id=None, person_ref=str(person)):
            return f"person:{hashlib.sha256(person.encode()).hexdigest()}"
        case GroupRelationRecorded() | GroupRelationEnded():
            return data.group_id
        case _:
            group_id = getattr(data, "group_id", None)
            if not isinstance(group_id, str):
                raise ValueError(f"no partition key rule for {event.type}")
            return group_id


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    config: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
    source: bool = False
    partitions: int | None = None
    """A fixed partition count, whatever the deployment's default (`None`: the default)."""


GROUP_STATE_TOPIC = "group-state"
"""The processor's group states, cases and open items (compacted; see docs/architecture.md)."""
ALERTS_TOPIC = "alerts"
"""Alerts raised and withdrawn by the processor, keyed by alert id."""
ACCESS_LOG_TOPIC = "access-log"
"""Who read or exported person-level data (dashboard and `gvi-audit export`)."""
AUDIT_CHECKPOINTS_TOPIC = "audit-checkpoints"
"""The checkpointer's signed hash-chain checkpoints (the default of `GVI_AUDIT_CHECKPOINT_TOPIC`)."""
PERSON_KEYS_TOPIC = "person-keys"
"""Each person's data key, wrapped by the master key, keyed by pseudonym; a tombstone shreds it
(`services.privacy`). Compacted, with one partition so that every reader sees the claims in one
order; cleaned within hours so that a shredded key leaves the broker's disks too."""
DATA_PROTECTION_TOPIC = "data-protection"
"""Erasures (by request and by retention deadline) and correction requests, with their reasons and
case numbers, and the master key rewraps; never a person reference (`services.contracts.protection`)."""

_FOREVER = MappingProxyType({"retention.ms": "-1"})

SOURCE_TOPIC_NAMES: tuple[str, ...] = tuple(service.topic for service in Service)
SOURCE_TOPICS: tuple[TopicSpec, ...] = tuple(
    TopicSpec(name, _FOREVER, source=True) for name in SOURCE_TOPIC_NAMES
)
DERIVED_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(GROUP_STATE_TOPIC, MappingProxyType({"cleanup.policy": "compact"})),
    TopicSpec(ALERTS_TOPIC, MappingProxyType({"retention.ms": "-1"})),
    TopicSpec(ACCESS_LOG_TOPIC, MappingProxyType({"retention.ms": "-1"})),
    TopicSpec(AUDIT_CHECKPOINTS_TOPIC, MappingProxyType({"retention.ms": "-1"})),
    TopicSpec(DATA_PROTECTION_TOPIC, MappingProxyType({"retention.ms": "-1"})),
    TopicSpec(PERSON_KEYS_TOPIC, MappingProxyType({
        "cleanup.policy": "compact",
        "min.cleanable.dirty.ratio": "0.01",  # clean as soon as anything was shredded
        "segment.ms": "3600000",  # roll hourly, so a shredded key's segment becomes cleanable
        # Tombstones (a pseudonym, nothing else) are kept, so that every reader, however late, knows
        # who was erased rather than merely not read yet.
        "delete.retention.ms": "3153600000000",
        "max.compaction.lag.ms": "21600000",  # a shredded key leaves the disks within six hours
    }), partitions=1),
)
ALL_TOPICS: tuple[TopicSpec, ...] = SOURCE_TOPICS + DERIVED_TOPICS
