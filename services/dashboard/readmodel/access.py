"""The access log: every read of a group's detail, its person-level data, the group audit's
memberships or a call-in brief, as a record of the `access-log` topic (who, what, when). An entry
names the user, their role, what they read (a group id, `all` for the whole group audit, or a
call-in id) and whether person references were shown; it never holds a person
reference itself. A logout is an entry too (`session`, naming the ended session's random id): every
dashboard replica reads the log, and refuses that session from then on."""

from __future__ import annotations

from collections import deque
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, ValidationError

from services.contracts import canonical_json

__all__ = ["ACCESS_LOG_TOPIC", "AccessEntry", "AccessLogView", "Resource"]

ACCESS_LOG_TOPIC = "access-log"


class Resource(StrEnum):
    GROUP = "group"
    GROUP_PEOPLE = "group_people"
    CALL_IN_BRIEF = "call_in_brief"
    CALL_IN = "call_in"
    """A call-in's preparation page, group level: invited groups, attendance counts."""
    CALL_IN_PEOPLE = "call_in_people"
    """A call-in's invited and summoned persons with their probation status."""
    GROUP_AUDIT = "group_audit"
    SESSION = "session"
    """A logout: `resource_id` is the ended session's token id."""


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
    """`api`, `web` or `pdf`."""

    def to_json(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))


class AccessLogView:
    """The latest `limit` entries of the access log, newest first, for the auditors' page."""

    def __init__(self, limit: int = 5000) -> None:
        self._entries: deque[AccessEntry] = deque(maxlen=limit)
        self.total = 0

    def apply(self, value: bytes | None) -> AccessEntry | None:
        if value is None:
            return None
        try:
            entry = AccessEntry.model_validate_json(value)
        except ValidationError:
            return None
        self._entries.appendleft(entry)
        self.total += 1
        return entry

    def latest(self, count: int = 200, *, user: str | None = None,
               resource_id: str | None = None) -> list[AccessEntry]:
        """The newest `count` entries, only those of `user` and/or about `resource_id` if given."""
        found: list[AccessEntry] = []
        for entry in self._entries:
            if len(found) >= count:
                break
            if (user is None or entry.user == user) and (
                    resource_id is None or entry.resource_id == resource_id):
                found.append(entry)
        return found
