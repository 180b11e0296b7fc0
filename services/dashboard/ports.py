"""The dashboard's one outgoing port, the access log, with its fake.

Errors a user can meet (each a status and a message that says what to do):

* `AccessLogUnavailable` (503): a read that must be logged could not be logged, so it was refused.
"""

from __future__ import annotations

from typing import Protocol

from services.dashboard.readmodel.access import AccessEntry

__all__ = ["AccessLog", "AccessLogUnavailable", "MemoryAccessLog"]


class AccessLogUnavailable(RuntimeError):
    """The access-log entry was not acknowledged: the read it stands for must not be answered."""


class AccessLog(Protocol):
    async def record(self, entry: AccessEntry) -> None:
        """Durably record `entry`, or raise `AccessLogUnavailable`."""

    async def close(self) -> None: ...


class MemoryAccessLog:
    """The fake: keeps entries in a list; `fail` makes every write fail."""

    def __init__(self) -> None:
        self.entries: list[AccessEntry] = []
        self.fail = False

    async def record(self, entry: AccessEntry) -> None:
        if self.fail:
            raise AccessLogUnavailable("the access log is unavailable (fake)")
        self.entries.append(entry)

    async def close(self) -> None:
        return None
