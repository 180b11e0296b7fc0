"""The partnership's own follow-up of the alerts the processor raises."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from services.contracts.events.fields import Identifier, Payload
from services.contracts.types import Text

__all__ = ["AlertTriaged", "TriageAction"]


class TriageAction(StrEnum):
    """What a coordinator did with an alert."""

    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


class AlertTriaged(Payload):
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
