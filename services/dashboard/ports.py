"""The dashboard's ports besides the read model: the access log (outgoing) and the audit trail (read on
demand for the auditors' pages), with their fakes.

Errors a user can meet (each a status and a message that says what to do):

* `AccessLogUnavailable` (503): a read that must be logged could not be logged, so it was refused.
* `AuditTrailUnavailable` (503): the checkpoints could not be read (Kafka did not answer) or cannot
  be checked (no auditors' public keys configured).
"""

from __future__ import annotations

from typing import Protocol

from services.audit.library import AuditSnapshot
from services.contracts.access import AccessEntry

__all__ = ["AccessLog", "AccessLogUnavailable", "AuditTrail", "AuditTrailUnavailable", "FixedAuditTrail",
           "MemoryAccessLog"]


class AccessLogUnavailable(RuntimeError):
    """The access-log entry was not acknowledged: the read it stands for must not be answered."""


class AccessLog(Protocol):
    async def record(self, entry: AccessEntry) -> None:
        """Durably record `entry`, or raise `AccessLogUnavailable`."""

    async def close(self) -> None: ...


class AuditTrailUnavailable(RuntimeError):
    """The audit trail cannot be shown now; the message says why and what to do."""


class AuditTrail(Protocol):
    async def snapshot(self) -> AuditSnapshot:
        """The last verification and the checkpoints as the auditors' keys see them, or raise
        `AuditTrailUnavailable`."""


class FixedAuditTrail:
    """The fake: answers `snapshot`, or raises `failure` when it is set."""

    def __init__(self, snapshot: AuditSnapshot | None = None) -> None:
        self.current = snapshot or AuditSnapshot(None, (), (), 0)
        self.failure: AuditTrailUnavailable | None = None

    async def snapshot(self) -> AuditSnapshot:
        if self.failure is not None:
            raise self.failure
        return self.current


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
