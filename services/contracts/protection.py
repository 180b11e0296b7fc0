"""The records of the `data-protection` topic: what the data protection officer and the retention
job did with personal data, and why.

- `RequestOpened`: a data subject's request (erasure or correction) was received, under a case
  number; a correction names the contested event.
- `PersonsErased`: the keys of one or more persons were shredded (`services.privacy`), on a request
  (its case number) or because their retention deadlines passed (`basis` retention).
- `RequestClosed`: a request was decided: erased, corrected (with the retraction and the corrected
  event it links) or refused, with the reason.
- `KeysRewrapped`: after the personal-data master key was rotated, `gvi-privacy rewrap` wrapped the
  claims under previous master keys again under the current one: the keys by fingerprint, counts,
  and how many live claims each key holds afterwards (so an inspector sees when keys were rotated
  and that no claim needs an old key any more). It names no person, not even by pseudonym.

A record names persons only by pseudonym, and a shredded pseudonym no longer leads to anyone. The
topic is in the audit's hash chain, so a record cannot be altered or dropped unnoticed, and
`gvi-audit verify` checks that every erased pseudonym's key is gone. The Kafka key is the case
number (or `retention`, or `master-key` for the rewraps), so one request's records stay in order.

A master key's fingerprint (`services.privacy.claims.MasterKey.fingerprint`: 16 hex digits of the
SHA-256 of a key derived from it) names the key without revealing it; every claim on `person-keys`
carries the fingerprint of the key that wrapped it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from services.contracts.envelope import canonical_json
from services.contracts.types import IDENTIFIER_PATTERN

__all__ = [
    "MASTER_KEY_CASE",
    "RETENTION_CASE",
    "Basis",
    "DataProtectionRecord",
    "Fingerprint",
    "KeysRewrapped",
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
MASTER_KEY_CASE = "master-key"
"""The key of the rewrap's records (they answer no request either)."""

CaseNumber = Annotated[str, Field(min_length=1, max_length=64, pattern=IDENTIFIER_PATTERN)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
Fingerprint = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$",
                                   description="A master key's fingerprint, as claims name it.")]
Count = Annotated[int, Field(ge=0)]


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
                                  description="Who acted: the officer's user name, the retention job, "
                                              "or the rewrap.")]

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


class KeysRewrapped(_Record):
    """One `gvi-privacy rewrap` that wrote to `person-keys` (or completed a rotation whose record
    was missing: `services.privacy.actions.rewrap`), written once its claims were read back."""

    action: Literal["keys_rewrapped"] = "keys_rewrapped"
    master: Annotated[Fingerprint, Field(description="The current master key, which the claims are now "
                                                     "wrapped under.")]
    rewrapped_from: Annotated[tuple[Fingerprint, ...], Field(
        description="The previous master keys whose claims this run wrapped again.")]
    rewrapped: Annotated[Count, Field(description="Claims wrapped again under `master` and read back.")]
    erased_meanwhile: Annotated[Count, Field(
        description="Claims erased while being re-wrapped (their re-wrap tombstoned again).")]
    live_claims: Annotated[dict[Fingerprint, Count], Field(
        description="Afterwards: the live claims under the current master key and under each previous "
                    "key given to the run (0 once none needs it).")]
    live_claims_other_keys: Annotated[Count, Field(
        description="Afterwards: live claims under a master key not given to the run.")] = 0

    def key(self) -> bytes:
        return MASTER_KEY_CASE.encode()


DataProtectionRecord = RequestOpened | PersonsErased | RequestClosed | KeysRewrapped
"""Any record of the topic."""
ProtectionRecord = Annotated[DataProtectionRecord, Field(discriminator="action")]

_READ: TypeAdapter[DataProtectionRecord] = TypeAdapter(ProtectionRecord)


def read_protection_record(value: bytes) -> DataProtectionRecord:
    """A record of the topic from its JSON bytes; raises `ValidationError` (a `ValueError`)."""
    return _READ.validate_json(value)
