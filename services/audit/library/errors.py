"""The errors of the audit tools, in one hierarchy; each message says what to change.

    AuditError                  anything the CLI reports as one line and a non-zero exit
    ├── ConfigError             a missing or unusable file or setting (exit 2)
    ├── AccessDenied            the auditor key is missing or unknown, or the role does not allow (exit 2)
    ├── NotFound                an unknown group, case or topic (exit 2)
    ├── BrokerUnreachable       Kafka did not answer (exit 3)
    └── AccessNotLogged         an export's access-log entry was not acknowledged: nothing exported (exit 3)

A verification that finds a problem is not an error: it is a result (exit 1).
"""

from __future__ import annotations

__all__ = ["AccessDenied", "AccessNotLogged", "AuditError", "BrokerUnreachable", "ConfigError", "NotFound",
           "report", "reported"]


class AuditError(Exception):
    """Base of the audit tools' errors."""

    exit_code = 2


class ConfigError(AuditError):
    """A missing or unusable key file, auditors file or setting."""


class AccessDenied(AuditError):
    """The auditor could not be authenticated, or the role does not allow what was asked."""


class NotFound(AuditError):
    """An unknown group, case or topic."""


class BrokerUnreachable(AuditError):
    """Kafka did not answer in time."""

    exit_code = 3


class AccessNotLogged(AuditError):
    """The access-log entry of an export of personal data was not acknowledged: nothing was output."""

    exit_code = 3


def report(exc: Exception, who: str) -> tuple[str, str]:
    """How a reader process tells its caller of `exc`: (kind, text), for
    `reported`. An audit error keeps its kind; anything else is one line naming `who` failed."""
    if isinstance(exc, AuditError):
        return type(exc).__name__, str(exc)
    return "AuditError", f"{who} failed: {type(exc).__name__}: {exc}"


def reported(kind: str, text: str) -> AuditError:
    """The error a helper process told of with `report`, as the same kind of error."""
    error = globals().get(kind)
    if not (isinstance(error, type) and issubclass(error, AuditError)):
        error = AuditError
    return error(text)
