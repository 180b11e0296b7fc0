"""The output contract of the rules: a group's state, its cases and links, and the unresolved sanctions.

These records are the contract between the processor, the dashboard, the replay tool and external
consumers (issue 3, "Outputs"); the rules that derive them live in `services.followthrough`, and
the keys of the `group-state` topic and its decoder in `services.contracts.group_state_records`.
They are frozen pydantic models so a consumer can parse them back, and `to_json` gives canonical
JSON (sorted keys, no whitespace, times in UTC with `Z`), so equal states are equal bytes, which is
what lets an auditor's replay be compared with the live view.

Every case and every sanction link carries the ids of the input events it rests on (provenance), so
that `gvi-audit explain` can name them; ids are the agencies' event ids (`source` is given where a
record stands for one event).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.contracts.envelope import canonical_json
from services.contracts.types import UtcDatetime

__all__ = [
    "RULE_VERSION",
    "CanonicalRecord",
    "CaseProvenance",
    "CaseState",
    "CaseStatus",
    "GroupState",
    "GroupStatus",
    "GroupSummary",
    "LinkRule",
    "Presentation",
    "ResolvedBy",
    "SanctionLink",
    "UnresolvedSanction",
    "WarningEntry",
]

RULE_VERSION = 2
"""The version of the rules below; recorded in every output so a later change of rules is visible."""


class CaseStatus(StrEnum):
    AWAITING_SANCTION = "awaiting_sanction"
    SANCTIONED = "sanctioned"
    PRESENTED = "presented"


class GroupStatus(StrEnum):
    UNWARNED = "unwarned"
    WARNED = "warned"
    AWAITING_SANCTION = "awaiting_sanction"
    SANCTIONED = "sanctioned"
    PRESENTED = "presented"


class LinkRule(StrEnum):
    """Why a sanction landed where it did (rule 5)."""

    EXPLICIT_INCIDENT = "explicit_incident"
    LATEST_CASE_WITHIN_WINDOW = "latest_case_within_window"
    BASELINE = "baseline"


class ResolvedBy(StrEnum):
    """How a sanction was resolved to the group (rule 4)."""

    NAMED_GROUP = "named_group"
    MEMBERSHIP = "membership"


class CanonicalRecord(BaseModel):
    """A frozen output record of the rules, with one canonical serialisation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> bytes:
        """Canonical JSON bytes (`canonical_json`: keys sorted): equal records are equal bytes."""
        return canonical_json(self.model_dump(mode="json"))


class WarningEntry(CanonicalRecord):
    event_id: str
    channel: str
    time: UtcDatetime


class SanctionLink(CanonicalRecord):
    """One sanction attached to a case or to the group's baseline, and what that rests on."""

    sanction_id: str
    source: str
    agency: str | None = Field(description="The agency whose key posted the sanction (the intake's "
                                           "`agency` attribute).")
    kind: str
    time: UtcDatetime
    rule: LinkRule
    resolved_by: ResolvedBy
    membership_ids: tuple[str, ...] = Field(
        description="The membership assessments valid at the sanction's time that put its person in "
                    "this group (sorted); empty when the sanction named the group.")


class Presentation(CanonicalRecord):
    """The held call-in that presented a case: the first one, by (time, id), after its first sanction."""

    call_in_id: str
    scheduled_id: str
    held_id: str
    held_time: UtcDatetime


class CaseProvenance(CanonicalRecord):
    report_id: str
    attribution_id: str | None
    warning_id: str
    presented_by: Presentation | None


class CaseState(CanonicalRecord):
    """A violation by a warned group (rule 3), and its follow-through (rules 5 and 6)."""

    incident_id: str
    incident_time: UtcDatetime
    warning_id: str
    status: CaseStatus
    links: tuple[SanctionLink, ...]
    sanction_ids: tuple[str, ...]
    first_sanction_time: UtcDatetime | None
    days_to_first_sanction: float | None
    provenance: CaseProvenance


class GroupState(CanonicalRecord):
    """Everything the rules say about one group (rule 7), keyed by `group_id`."""

    group_id: str
    name: str | None
    registration_id: str | None
    status: GroupStatus
    warned_since: UtcDatetime | None
    warnings: tuple[WarningEntry, ...]
    cases: tuple[CaseState, ...]
    unwarned_incident_ids: tuple[str, ...]
    baseline_links: tuple[SanctionLink, ...]
    baseline_sanction_ids: tuple[str, ...]
    rule_version: Annotated[int, Field(ge=1)] = RULE_VERSION


class GroupSummary(CanonicalRecord):
    """A group's state without its cases, unwarned incidents and baseline links: the `group` record of
    the `group-state` topic (the others are records of their own, see `records.py`)."""

    group_id: str
    name: str | None
    registration_id: str | None
    status: GroupStatus
    warned_since: UtcDatetime | None
    warnings: tuple[WarningEntry, ...]
    case_count: int
    open_case_count: int = Field(description="Cases awaiting their first sanction.")
    last_incident_id: str | None = Field(description="The group's latest confirmed incident as a "
                                                      "suspect, warned or not, by (time, id).")
    last_incident_time: UtcDatetime | None
    rule_version: Annotated[int, Field(ge=1)] = RULE_VERSION


class UnresolvedSanction(CanonicalRecord):
    """A sanction that names only a person with no membership valid at its time: a data-quality
    queue, keyed by `sanction_id`. The person reference is left out (personal data); authorised
    roles find it through the sanction event itself."""

    sanction_id: str
    source: str
    kind: str
    time: UtcDatetime
    incident_id: str | None
    reason: Literal["no_membership_valid_at_sanction_time"] = "no_membership_valid_at_sanction_time"
    rule_version: int = RULE_VERSION
