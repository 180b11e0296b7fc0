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
    └── BrokerUnavailable 503   Kafka did not acknowledge in time; retry with the same id (a
                                repeat of an event that was recorded after all gets its receipt)

Each message tells the client what to change. None of them carries personal data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from services.contracts import FieldError

__all__ = [
    "BrokerUnavailable",
    "ClaimRaceLost",
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
    """`settled` is set when the records may still have been committed: the broker lost the
    connection after it was asked to commit. It completes once that outcome is decided and, if the
    records were committed, their receipts are in the ledger; until then their ids are undecided."""

    status = 503
    code = "broker_unavailable"

    def __init__(self, message: str, errors: Sequence[FieldError] = (), *,
                 settled: asyncio.Future[None] | None = None) -> None:
        super().__init__(message, errors)
        self.settled = settled


class ClaimRaceLost(BrokerUnavailable):
    """Nothing was published: a new person's key claim that the records, or others committed in the
    same transaction, were sealed with lost to another intake's claim of the same person a moment
    earlier. Sealed again they get the winner's key, so the intake tries once more itself
    (`Intake._accept_claimed`); only a second loss reaches the client, as a 503 to retry."""
