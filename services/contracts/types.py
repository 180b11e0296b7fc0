"""Small value types shared by the envelope and the payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

__all__ = ["UtcDatetime", "to_utc"]


def to_utc(value: datetime) -> datetime:
    """Normalise an aware time to UTC, so that equal instants serialise to equal bytes."""
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("time is out of range once converted to UTC") from exc


UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]
"""A time with an explicit offset (RFC 3339), stored and serialised in UTC."""
