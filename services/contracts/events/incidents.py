"""Serious violent incidents: the first report and every later review of who did it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from services.contracts.events.fields import Identifier, IdList, Payload
from services.contracts.types import Count, JsonBool, Name, Text

__all__ = ["Confidence", "IncidentAttributed", "IncidentKind", "IncidentReported"]


class IncidentKind(StrEnum):
    """The kinds of serious violent incident the partnership follows."""

    SHOOTING = "shooting"
    EXPLOSION = "explosion"
    HOMICIDE = "homicide"
    ATTEMPTED_HOMICIDE = "attempted_homicide"
    AGGRAVATED_ASSAULT = "aggravated_assault"
    ARSON = "arson"


class Confidence(StrEnum):
    """How confident an incident review is in its attribution."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class IncidentReported(Payload):
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


class IncidentAttributed(Payload):
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
