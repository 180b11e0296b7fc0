"""Support offered and accepted, and the exit (defector) programme's milestones."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from services.contracts.events.fields import Identifier, Payload, PersonRef
from services.contracts.types import Name

__all__ = ["ExitMilestone", "ExitMilestoneKind", "ExitMilestoneV2", "SupportAccepted", "SupportOffered"]


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


class _Support(Payload):
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


class ExitMilestoneV2(Payload):
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
