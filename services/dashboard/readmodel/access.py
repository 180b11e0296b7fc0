"""The access log as the auditors' page lists it. The record itself (`AccessEntry`, `Resource`, the
topic) is the contract's, `services.contracts.access`, which the dashboard and `gvi-audit export`
both write: every read of a group's detail, its person-level data, the group audit's memberships or
a call-in brief, every logout (`session`, naming the ended session's random id: every dashboard
replica reads the log, and refuses that session from then on), every event entered through a
data-entry form (`data_entry`) and every audit export."""

from __future__ import annotations

from collections import deque

from pydantic import ValidationError

from services.contracts.access import AccessEntry

__all__ = ["AccessLogView"]


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
