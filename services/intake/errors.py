"""Every way the intake can refuse an event, as one hierarchy.

    IntakeError                 base; `status`, `code`, `message`, optional field `errors`
    ├── Unauthenticated   401   missing or unknown API key
    ├── Forbidden         403   type or kind outside the agency's role, or a spoofed `source`
    ├── WrongService      400   the type belongs to another intake service (named in the message)
    ├── UnsupportedMedia  415   not a CloudEvents HTTP binding content type
    ├── PayloadTooLarge   413   body or batch above the limit
    ├── InvalidEvent      422   the event breaks the contract; `errors` lists each field and why
    ├── Conflict          409   the id was already used by this source, at any intake, for
    │                           different content
    └── BrokerUnavailable 503   Kafka did not acknowledge in time; nothing was published, retry

Each message tells the client what to change. None of them carries personal data.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.contracts import FieldError

__all__ = [
    "BrokerUnavailable",
    "Conflict",
    "Forbidden",
    "IntakeError",
    "InvalidEvent",
    "PayloadTooLarge",
    "Unauthenticated",
    "UnsupportedMedia",
    "WrongService",
]


class IntakeError(Exception):
    status = 500
    code = "intake_error"

    def __init__(self, message: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.errors = list(errors)
        self.counted = False  # set once the rejection is in the metrics

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "message": self.message}
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return body


class Unauthenticated(IntakeError):
    status = 401
    code = "unauthenticated"


class Forbidden(IntakeError):
    status = 403
    code = "forbidden"


class WrongService(IntakeError):
    status = 400
    code = "wrong_service"


class UnsupportedMedia(IntakeError):
    status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(IntakeError):
    status = 413
    code = "payload_too_large"


class InvalidEvent(IntakeError):
    status = 422
    code = "invalid_event"


class Conflict(IntakeError):
    status = 409
    code = "id_conflict"


class BrokerUnavailable(IntakeError):
    status = 503
    code = "broker_unavailable"
