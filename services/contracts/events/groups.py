"""The group audit's events: groups, who belongs to them, and how they stand to each other."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from services.contracts.events.fields import Identifier, Payload, PersonRef
from services.contracts.types import Name, Text, UtcDatetime

__all__ = [
    "GroupRegistered",
    "GroupRelationEnded",
    "GroupRelationRecorded",
    "MembershipAssessed",
    "RelationKind",
    "SourceGrade",
]


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


class GroupRegistered(Payload):
    """The group audit identified a group (gvi.group.registered.v1)."""

    group_id: Annotated[Identifier, Field(
        description="The partnership's identifier for the group; later events about it name it.")]
    name: Annotated[Name, Field(description="The name the group is known by in the group audit.")]
    area: Annotated[Name, Field(description="Where the group is active, e.g. a district.")]


class MembershipAssessed(Payload):
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


class GroupRelationRecorded(Payload):
    """Two groups are in conflict or allied (gvi.group.relation.recorded.v1)."""

    group_id: Annotated[Identifier, Field(description="One of the two groups; the event is keyed by it.")]
    other_group_id: Annotated[Identifier, Field(description="The other group; must differ from group_id.")]
    relation: RelationKind

    @model_validator(mode="after")
    def _two_groups(self) -> Self:
        if self.group_id == self.other_group_id:
            raise ValueError("other_group_id must differ from group_id")
        return self


class GroupRelationEnded(Payload):
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
