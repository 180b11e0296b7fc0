"""The payloads (`data`) of every event type that crosses Kafka.

Each model is frozen and rejects unknown fields: an agency that sends a field we do not know gets a
422 naming it, rather than having it silently dropped. A type's name carries its version
(`...v1`); a change that is not backwards compatible is a new type (`...v2`), never an edit here.

Person references (`person_ref`) are the agencies' own opaque identifiers for people. They are
personal data: they never appear in logs, metric labels or Kafka keys, and only roles that may see
them are shown them. Fields marked `x-personal` are sealed by the intake before they reach Kafka
(`services.contracts.personal`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.contracts.types import IDENTIFIER_PATTERN, Count, EventId, JsonBool, Name, Text, UtcDatetime

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


def _no_duplicates(values: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(values)) != len(values):
        raise ValueError("must not list the same id twice")
    return values


Identifier = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN,
          description="An identifier: letters, digits, '.', '_', ':' or '-', "
                      "starting with a letter or digit."),
]
PersonRef = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN,
          description="An agency's opaque reference to a person (personal data; never a name). "
                      "In Kafka it is the person's pseudonym (see docs/events.md, Personal data).",
          json_schema_extra={"x-personal": True}),
]
# Length constraints come before the AfterValidator: after it, pydantic would export them as string
# constraints (maxLength) instead of array ones (maxItems).
_IdListBounds = Field(max_length=100, json_schema_extra={"uniqueItems": True})
IdList = Annotated[tuple[Identifier, ...], _IdListBounds, AfterValidator(_no_duplicates)]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class IncidentKind(StrEnum):
    """The kinds of serious violent incident the partnership follows."""

    SHOOTING = "shooting"
    EXPLOSION = "explosion"
    HOMICIDE = "homicide"
    ATTEMPTED_HOMICIDE = "attempted_homicide"
    AGGRAVATED_ASSAULT = "aggravated_assault"
    ARSON = "arson"


class SanctionKind(StrEnum):
    """The levers an agency can pull against a group or one of its members."""

    ARREST = "arrest"
    DETENTION = "detention"
    PROSECUTION = "prosecution"
    SENTENCE_ENFORCEMENT = "sentence_enforcement"
    PROBATION_ACTION = "probation_action"
    SEARCH = "search"
    ASSET_SEIZURE = "asset_seizure"
    TAX_ENFORCEMENT = "tax_enforcement"
    OTHER = "other"


class WarningChannel(StrEnum):
    """How the partnership's message was delivered."""

    CALL_IN = "call_in"
    CUSTOM_NOTIFICATION = "custom_notification"
    HOME_VISIT = "home_visit"
    LETTER = "letter"


class RelationKind(StrEnum):
    """How two groups stand to each other."""

    CONFLICT = "conflict"
    ALLIANCE = "alliance"


class SourceGrade(StrEnum):
    """Reliability of the source of a membership assessment (the Admiralty scale, A best)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"
    E = "E"


class Confidence(StrEnum):
    """How confident an incident review is in its attribution."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ExitMilestoneKind(StrEnum):
    """The steps of the exit (defector) programme that `gvi.exit.milestone.v2` names.

    `left_group` and `left_area` are the programme's outcomes: the person has broken with the group,
    or moved away from the area where it is active."""

    INTAKE = "intake"
    PLAN_AGREED = "plan_agreed"
    HOUSING = "housing"
    WORK_OR_STUDIES = "work_or_studies"
    LEFT_GROUP = "left_group"
    LEFT_AREA = "left_area"
    COMPLETED = "completed"
    DROPPED_OUT = "dropped_out"


class GroupRegistered(_Data):
    """The group audit identified a group (gvi.group.registered.v1)."""

    group_id: Annotated[Identifier, Field(
        description="The partnership's identifier for the group; later events about it name it.")]
    name: Annotated[Name, Field(description="The name the group is known by in the group audit.")]
    area: Annotated[Name, Field(description="Where the group is active, e.g. a district.")]


class MembershipAssessed(_Data):
    """The partnership assessed that a person belongs to a group, for a limited time
    (gvi.membership.assessed.v1). An assessment, not a fact: it expires at `valid_until`."""

    person_ref: PersonRef
    group_id: Annotated[Identifier, Field(description="The group the person is assessed to belong to.")]
    valid_from: Annotated[UtcDatetime, Field(description="When the assessment starts to hold.")]
    valid_until: Annotated[UtcDatetime, Field(
        description="When the assessment expires unless a new assessment renews it; must be later than "
                    "valid_from.")]
    evidence: Annotated[Text, Field(description="What the assessment rests on (free text; personal data: "
                                                "sealed in Kafka).", json_schema_extra={"x-personal": True})]
    source_grade: SourceGrade

    @model_validator(mode="after")
    def _valid_period(self) -> Self:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be later than valid_from")
        return self


class GroupRelationRecorded(_Data):
    """Two groups are in conflict or allied (gvi.group.relation.recorded.v1)."""

    group_id: Annotated[Identifier, Field(description="One of the two groups; the event is keyed by it.")]
    other_group_id: Annotated[Identifier, Field(description="The other group; must differ from group_id.")]
    relation: RelationKind

    @model_validator(mode="after")
    def _two_groups(self) -> Self:
        if self.group_id == self.other_group_id:
            raise ValueError("other_group_id must differ from group_id")
        return self


class GroupRelationEnded(_Data):
    """The relation recorded between two groups no longer holds: they are neither in conflict nor
    allied until a new relation is recorded (gvi.group.relation.ended.v1). For each pair of groups
    the latest relation event, recorded or ended, holds."""

    group_id: Annotated[Identifier, Field(description="One of the two groups; the event is keyed by it.")]
    other_group_id: Annotated[Identifier, Field(description="The other group; must differ from group_id.")]

    @model_validator(mode="after")
    def _two_groups(self) -> Self:
        if self.group_id == self.other_group_id:
            raise ValueError("other_group_id must differ from group_id")
        return self


class CallInScheduled(_Data):
    """A call-in was planned and groups invited (gvi.callin.scheduled.v1)."""

    call_in_id: Annotated[Identifier, Field(description="The partnership's identifier for the call-in.")]
    scheduled_for: Annotated[UtcDatetime, Field(description="When the call-in is to take place.")]
    location: Annotated[Name, Field(description="Where it is to take place.")]
    invited_group_ids: Annotated[
        tuple[Identifier, ...], _IdListBounds, Field(min_length=1), AfterValidator(_no_duplicates),
        Field(description="The groups invited: at least one, no duplicates."),
    ]


class AttendanceEntry(_Data):
    """One person summoned to a call-in, with the group they were summoned as a member of."""

    person_ref: PersonRef
    group_id: Annotated[Identifier, Field(description="The group the person was summoned as a member of.")]


class CallInHeld(_Data):
    """A call-in took place (gvi.callin.held.v1)."""

    call_in_id: Annotated[Identifier, Field(description="The call-in, as named when it was scheduled.")]
    attended: Annotated[tuple[AttendanceEntry, ...], Field(
        max_length=500, description="Who came.")] = ()
    no_shows: Annotated[tuple[AttendanceEntry, ...], Field(
        max_length=500, description="Who was summoned and did not come (for a person on probation a "
                                    "missed meeting can be a breach).")] = ()


class WarningDelivered(_Data):
    """The partnership's message reached a group or one of its members (gvi.warning.delivered.v1)."""

    group_id: Annotated[Identifier, Field(description="The group warned: from this event's time on it "
                                                      "counts as warned.")]
    channel: WarningChannel
    person_ref: Annotated[PersonRef | None, Field(
        description="The member the message was delivered to, when delivered to one person.")] = None
    call_in_id: Annotated[Identifier | None, Field(
        description="The call-in at which it was delivered; required when channel is call_in.")] = None
    promised_levers: Annotated[tuple[SanctionKind, ...], Field(
        max_length=20, description="The sanctions the group was told would follow further violence.")] = ()

    @model_validator(mode="after")
    def _call_in_needs_id(self) -> Self:
        if self.channel is WarningChannel.CALL_IN and self.call_in_id is None:
            raise ValueError("a warning delivered at a call-in must name its call_in_id")
        return self


class IncidentReported(_Data):
    """A serious violent event and the first review of who is suspected (gvi.incident.reported.v1)."""

    incident_id: Annotated[Identifier, Field(
        description="The identifier later attributions and sanctions refer to the incident by.")]
    kind: IncidentKind
    area: Annotated[Name, Field(description="Where it happened, e.g. a district.")]
    confirmed: Annotated[JsonBool, Field(description="Whether the incident is confirmed (e.g. a confirmed "
                                                 "shooting) rather than suspected.")]
    killed: Annotated[Count, Field(description="People killed.")] = 0
    injured: Annotated[Count, Field(description="People injured.")] = 0
    suspected_group_ids: Annotated[IdList, Field(
        description="The groups suspected of it by the first review; may be empty; often revised.")] = ()
    victim_group_ids: Annotated[IdList, Field(
        description="The groups whose members were its victims; a victim is not an offender.")] = ()


class IncidentAttributed(_Data):
    """A revised incident review; replaces the attribution of the report and of any earlier review
    (gvi.incident.attributed.v1)."""

    incident_id: Annotated[Identifier, Field(description="The incident reviewed, as named in its report.")]
    confirmed: Annotated[JsonBool, Field(description="Whether the incident is now confirmed.")]
    suspected_group_ids: Annotated[IdList, Field(
        description="The complete revised list of suspected groups; replaces every earlier list.")] = ()
    victim_group_ids: Annotated[IdList, Field(
        description="The complete revised list of victim groups; replaces every earlier list.")] = ()
    confidence: Confidence
    reason: Annotated[Text, Field(description="Why the attribution was revised (free text).")]


class SanctionRecorded(_Data):
    """An agency pulled a lever against a group or one of its members (gvi.sanction.recorded.v1)."""

    kind: SanctionKind
    group_id: Annotated[Identifier | None, Field(
        description="The group the sanction is against; a group_id, a person_ref, or both.")] = None
    person_ref: Annotated[PersonRef | None, Field(
        description="The member the sanction is against, when against one person.")] = None
    incident_id: Annotated[Identifier | None, Field(
        description="The incident (violation) the sanction follows up, if any.")] = None

    @model_validator(mode="after")
    def _names_someone(self) -> Self:
        if self.group_id is None and self.person_ref is None:
            raise ValueError("a sanction must name a group_id, a person_ref, or both")
        return self


class _Support(_Data):
    group_id: Annotated[Identifier, Field(description="The group concerned (the person's group, when a "
                                                      "person is named).")]
    person_ref: Annotated[PersonRef | None, Field(
        description="The person concerned, when it concerns one person.")] = None
    service: Annotated[Name, Field(description="The service, e.g. hotline, housing, work, relocation.")]


class SupportOffered(_Support):
    """Support was offered to a group or one of its members (gvi.support.offered.v1)."""


class SupportAccepted(_Support):
    """Support was accepted (gvi.support.accepted.v1)."""


class ExitMilestone(_Support):
    """A person leaving a group reached a step of the exit programme (gvi.exit.milestone.v1)."""


class TriageAction(StrEnum):
    """What a coordinator did with an alert."""

    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


class AlertTriaged(_Data):
    """A coordinator acknowledged an alert, assigned it to a user, or resolved it
    (gvi.alert.triaged.v1). The partnership's own follow-up of an alert: it changes no rule of the
    strategy (the processor raises and withdraws alerts whatever their triage); for each alert the
    latest triage event that counts gives its state."""

    alert_id: Annotated[Identifier, Field(
        description="The alert, by the id the processor gave it (the `alerts` topic's key).")]
    action: TriageAction
    assignee: Annotated[Identifier | None, Field(
        description="The dashboard user the alert is assigned to (a user name of the partnership's "
                    "staff, never a reference to a warned person); required when action is assigned.")] = None
    note: Annotated[Text | None, Field(
        description="What was done or decided (free text); required when action is resolved.")] = None

    @model_validator(mode="after")
    def _action_needs(self) -> Self:
        if self.action is TriageAction.ASSIGNED and self.assignee is None:
            raise ValueError("an alert assigned must name its assignee")
        if self.action is TriageAction.RESOLVED and self.note is None:
            raise ValueError("an alert resolved must say how in its note")
        return self


class ExitMilestoneV2(_Data):
    """A person leaving a group reached a step of the exit programme, named in a field of its own
    (gvi.exit.milestone.v2). Replaces v1, whose free-text `service` carried the step: v2 names the
    person (always one person) and the step from a closed list; `service` is the help it took, if any."""

    group_id: Annotated[Identifier, Field(description="The group the person is leaving.")]
    person_ref: Annotated[PersonRef, Field(description="The person leaving the group (required: a milestone "
                                                       "is always one person's).")]
    milestone: Annotated[ExitMilestoneKind, Field(
        description="The step reached; left_group and left_area are the programme's outcomes.")]
    service: Annotated[Name | None, Field(
        description="The help the step took, e.g. housing, relocation, work (free text).")] = None


class EventRetracted(_Data):
    """An agency withdraws one of its own events: it counts as never having happened
    (gvi.event.retracted.v1)."""

    retracted_event_id: Annotated[EventId, Field(
        description="The id of the event withdrawn: one the same agency posted to the same service.")]
    reason: Annotated[Text, Field(description="Why it is withdrawn, e.g. entered in error (free text).")]


EventData = (
    GroupRegistered | MembershipAssessed | GroupRelationRecorded | GroupRelationEnded | CallInScheduled
    | CallInHeld | WarningDelivered | IncidentReported | IncidentAttributed | SanctionRecorded
    | SupportOffered | SupportAccepted | ExitMilestone | ExitMilestoneV2 | AlertTriaged | EventRetracted
)

EVENT_TYPES: dict[str, type[_Data]] = {
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
