"""Retraction: an agency withdrawing one of its own events, whatever its type."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from services.contracts.events.fields import Payload
from services.contracts.types import EventId, Text

__all__ = ["EventRetracted"]


class EventRetracted(Payload):
    """An agency withdraws one of its own events: it counts as never having happened
    (gvi.event.retracted.v1)."""

    retracted_event_id: Annotated[EventId, Field(
        description="The id of the event withdrawn: one the same agency posted to the same service.")]
    reason: Annotated[Text, Field(description="Why it is withdrawn, e.g. entered in error (free text).")]
