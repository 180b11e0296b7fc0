"""The records of the `data-protection` topic: what the data protection officer and the retention
job did with personal data, and why.

- `RequestOpened`: a data subject's request (erasure or correction) was received, under a case
  number; a correction names the contested event.
- `PersonsErased`: the keys of one or more persons were shredded (`services.privacy`), on a request
  (its case number) or because their retention deadlines passed (`basis` retention).
- `RequestClosed`: a request was decided: erased, corrected (with the retraction and the corrected
  event it links) or refused, with the reason.

A record names persons only by pseudonym, and a shredded pseudonym no longer leads to anyone. The
topic is in the audit's hash chain, so a record cannot be altered or dropped unnoticed, and
`gvi-audit verify` checks that every erased pseudonym's key is gone. The Kafka key is the case
number (or `retention`), so one request's records stay in order.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from services.contracts.envelope import canonical_json
from services.contracts.types import IDENTIFIER_PATTERN

__all__ = [
    "RETENTION_CASE",
    "Basis",
    "Outcome",
    "PersonsErased",
    "ProtectionRecord",
    "RequestClosed",
    "RequestKind",
    "RequestOpened",
    "read_protection_record",
]

RETENTION_CASE = "retention"
"""The key of the retention job's records (they answer no request)."""

CaseNumber = Annotated[str, Field(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


class RequestKind(StrEnum):
    ERASURE = "erasure"
    CORRECTION = "correction"


class Basis(StrEnum):
    REQUEST = "request"
    """A data subject's request, decided by the data protection officer."""
    RETENTION = "retention"
    """Every retention deadline of the person's data had passed."""


class Outcome(StrEnum):
    ERASED = "erased"
    CORRECTED = "corrected"
    REFUSED = "refused"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    record_id: Annotated[str, Field(min_length=1, max_length=64)]
    time: datetime
    officer: Annotated[str, Field(min_length=1, max_length=64,
                                  description="Who acted: the officer's user name, or the retention job.")]

    def to_json(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude_none=True))


class RequestOpened(_Record):
    action: Literal["request_opened"] = "request_opened"
    case_number: CaseNumber
    kind: RequestKind
    reason: Reason
    contested_event: Annotated[str | None, Field(
        max_length=600, description="A correction's contested event, as `source id`.")] = None

    def key(self) -> bytes:
        return self.case_number.encode()


class PersonsErased(_Record):
    action: Literal["persons_erased"] = "persons_erased"
    basis: Basis
    case_number: CaseNumber | None = None
    reason: Reason
    pseudonyms: Annotated[tuple[str, ...], Field(
        description="The claims shredded (a person's winning claim and any rival ones).")]
    persons: Annotated[int, Field(ge=0, description="How many persons were erased.")]

    def key(self) -> bytes:
        return (self.case_number or RETENTION_CASE).encode()


class RequestClosed(_Record):
    action: Literal["request_closed"] = "request_closed"
    case_number: CaseNumber
    outcome: Outcome
    reason: Reason
    linked_events: Annotated[tuple[str, ...], Field(
        description="A correction's retraction and corrected event, each as `source id`.")] = ()

    def key(self) -> bytes:
        return self.case_number.encode()


ProtectionRecord = Annotated[RequestOpened | PersonsErased | RequestClosed, Field(discriminator="action")]

_READ: TypeAdapter[RequestOpened | PersonsErased | RequestClosed] = TypeAdapter(ProtectionRecord)


def read_protection_record(value: bytes) -> RequestOpened | PersonsErased | RequestClosed:
    """A record of the topic from its JSON bytes; raises `ValidationError` (a `ValueError`)."""
    return _READ.validate_json(value)
