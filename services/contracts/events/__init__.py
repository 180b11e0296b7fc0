"""The payloads (`data`) of every event type that crosses Kafka.

Each model is frozen and rejects unknown fields: an agency that sends a field we do not know gets a
422 naming it, rather than having it silently dropped. A type's name carries its version
(`...v1`); a change that is not backwards compatible is a new type (`...v2`), never an edit here.

Person references (`person_ref`) are the agencies' own opaque identifiers for people. They are
personal data: they never appear in logs, metric labels or Kafka keys, and only roles that may see
them are shown them. Fields marked `x-personal` are sealed by the intake before they reach Kafka
(`services.contracts.personal`).

The models live by family (`groups`, `call_ins`, `incidents`, `sanctions`, `support`, `triage`,
`retraction`, on the shared fields of `fields`); this package names them all and maps each type to
its model (`EVENT_TYPES`).
"""

from __future__ import annotations

from services.contracts.events.call_ins import (
    AttendanceEntry,
    CallInHeld,
    CallInScheduled,
    WarningChannel,
    WarningDelivered,
)
from services.contracts.events.fields import Payload
from services.contracts.events.groups import (
    GroupRegistered,
    GroupRelationEnded,
    GroupRelationRecorded,
    MembershipAssessed,
    RelationKind,
    SourceGrade,
)
from services.contracts.events.incidents import Confidence, IncidentAttributed, IncidentKind, IncidentReported
from services.contracts.events.retraction import EventRetracted
from services.contracts.events.sanctions import SanctionKind, SanctionRecorded
from services.contracts.events.support import (
    ExitMilestone,
    ExitMilestoneKind,
    ExitMilestoneV2,
    SupportAccepted,
    SupportOffered,
)
from services.contracts.events.triage import AlertTriaged, TriageAction

__all__ = [
    "EVENT_TYPES",
    "AlertTriaged",
    "AttendanceEntry",
    "CallInHeld",
    "CallInScheduled",
    "Confidence",
    "EventData",
    "EventRetracted",
    "ExitMilestone",
    "ExitMilestoneKind",
    "ExitMilestoneV2",
    "GroupRegistered",
    "GroupRelationEnded",
    "GroupRelationRecorded",
    "IncidentAttributed",
    "IncidentKind",
    "IncidentReported",
    "MembershipAssessed",
    "RelationKind",
    "SanctionKind",
    "SanctionRecorded",
    "SourceGrade",
    "SupportAccepted",
    "SupportOffered",
    "TriageAction",
    "WarningChannel",
    "WarningDelivered",
]

EventData = (
    GroupRegistered | MembershipAssessed | GroupRelationRecorded | GroupRelationEnded | CallInScheduled
    | CallInHeld | WarningDelivered | IncidentReported | IncidentAttributed | SanctionRecorded
    | SupportOffered | SupportAccepted | ExitMilestone | ExitMilestoneV2 | AlertTriaged | EventRetracted
)

EVENT_TYPES: dict[str, type[Payload]] = {
    "gvi.group.registered.v1": GroupRegistered,
    "gvi.membership.assessed.v1": MembershipAssessed,
    "gvi.group.relation.recorded.v1": GroupRelationRecorded,
    "gvi.group.relation.ended.v1": GroupRelationEnded,
    "gvi.callin.scheduled.v1": CallInScheduled,
    "gvi.callin.held.v1": CallInHeld,
    "gvi.warning.delivered.v1": WarningDelivered,
    "gvi.incident.reported.v1": IncidentReported,
    "gvi.incident.attributed.v1": IncidentAttributed,
    "gvi.sanction.recorded.v1": SanctionRecorded,
    "gvi.support.offered.v1": SupportOffered,
    "gvi.support.accepted.v1": SupportAccepted,
    "gvi.exit.milestone.v1": ExitMilestone,
    "gvi.alert.triaged.v1": AlertTriaged,
    "gvi.exit.milestone.v2": ExitMilestoneV2,
    "gvi.event.retracted.v1": EventRetracted,
}
"""Every event type, by its CloudEvents `type`, mapped to the model of its `data`."""
