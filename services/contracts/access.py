"""The access-log record: one read or export of person-level data, as a record of the `access-log`
topic (who, what, when), written before what it stands for is shown.

Two writers share this one contract: the dashboard (a group's detail, its person-level data, the
group audit's memberships, a call-in brief; a logout; an event entered through a data-entry form,
so that the log says which person entered each event an agency's key posted) and `gvi-audit
export`. An entry names the
user, their role, what they read (a group id, `all`, a call-in id, a session id) and whether person
references were shown; an export also says how many distinct person references it holds
(`person_refs`). It never holds a person reference, evidence or any other personal data itself.

The Kafka key is the user's name (`key`), so one user's entries stay in order on one partition.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from services.contracts.envelope import canonical_json

__all__ = ["AccessEntry", "Resource"]


class Resource(StrEnum):
    GROUP = "group"
    GROUP_PEOPLE = "group_people"
    CALL_IN_BRIEF = "call_in_brief"
    CALL_IN = "call_in"
    """A call-in's preparation page, group level: invited groups, attendance counts."""
    CALL_IN_PEOPLE = "call_in_people"
    """A call-in's invited and summoned persons with their probation status."""
    GROUP_AUDIT = "group_audit"
    EXIT_PROGRAMME = "exit_programme"
    """The exit programme, group level (offers, uptake, milestones, outcomes as counts):
    `resource_id` a group id or `all`."""
    EXIT_PROGRAMME_PEOPLE = "exit_programme_people"
    """The exit programme with its per-person rows: `resource_id` a group id or `all`."""
    SESSION = "session"
    """A logout: `resource_id` is the ended session's token id."""
    AUDIT_EXPORT = "audit_export"
    """`gvi-audit export`: `resource_id` `all` (the whole log and every group state)."""
    DATA_ENTRY = "data_entry"
    """An event entered through a dashboard data-entry form, written before it is posted:
    `resource_id` is the event's id (at the agency the user enters for); who entered it is the
    entry's user."""


class AccessEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    access_id: str
    time: datetime
    user: str
    role: str
    resource: Resource
    resource_id: str
    person_refs_shown: bool
    via: str
    """`api`, `web` or `pdf` (the dashboard), `cli` (`gvi-audit`)."""
    person_refs: int | None = Field(None, ge=0)
    """How many distinct person references the answer held (an export's count; pseudonyms count as
    the references they stand for). Left out of the record when not counted, so the dashboard's
    entries are byte for byte what they were before the field existed."""

    def to_json(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude_none=True))

    def key(self) -> bytes:
        return self.user.encode()
