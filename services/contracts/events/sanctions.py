"""Sanctions: the levers an agency pulls against a group or one of its members."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from services.contracts.events.fields import Identifier, Payload, PersonRef

__all__ = ["SanctionKind", "SanctionRecorded"]


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


class SanctionRecorded(Payload):
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
