"""Call-ins and the partnership's message: who was summoned, who came, who was warned and how."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from services.contracts.events.fields import Identifier, IdListBounds, Payload, PersonRef, no_duplicates
from services.contracts.events.sanctions import SanctionKind
from services.contracts.types import Name, UtcDatetime

__all__ = ["AttendanceEntry", "CallInHeld", "CallInScheduled", "WarningChannel", "WarningDelivered"]


class WarningChannel(StrEnum):
    """How the partnership's message was delivered."""

    CALL_IN = "call_in"
    CUSTOM_NOTIFICATION = "custom_notification"
    HOME_VISIT = "home_visit"
    LETTER = "letter"


class CallInScheduled(Payload):
    """A call-in was planned and groups invited (gvi.callin.scheduled.v1)."""

    call_in_id: Annotated[Identifier, Field(description="The partnership's identifier for the call-in.")]
    scheduled_for: Annotated[UtcDatetime, Field(description="When the call-in is to take place.")]
    location: Annotated[Name, Field(description="Where it is to take place.")]
    invited_group_ids: Annotated[
        tuple[Identifier, ...], IdListBounds, Field(min_length=1), AfterValidator(no_duplicates),
        Field(description="The groups invited: at least one, no duplicates."),
    ]


class AttendanceEntry(Payload):
    """One person summoned to a call-in, with the group they were summoned as a member of."""

    person_ref: PersonRef
    group_id: Annotated[Identifier, Field(description="The group the person was summoned as a member of.")]


class CallInHeld(Payload):
    """A call-in took place (gvi.callin.held.v1)."""

    call_in_id: Annotated[Identifier, Field(description="The call-in, as named when it was scheduled.")]
    attended: Annotated[tuple[AttendanceEntry, ...], Field(
        max_length=500, description="Who came.")] = ()
    no_shows: Annotated[tuple[AttendanceEntry, ...], Field(
        max_length=500, description="Who was summoned and did not come (for a person on probation a "
                                    "missed meeting can be a breach).")] = ()


class WarningDelivered(Payload):
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
