"""Swedish local time, as the scenario's agencies' systems stamp their events: the scenario's span,
and wall-clock times with their CET/CEST offset."""

from __future__ import annotations

from datetime import date, datetime, timedelta

__all__ = ["END", "START", "rfc3339", "to_utc", "utc_offset"]

START = datetime(2017, 1, 1)
END = datetime(2021, 1, 1)
"""The scenario's span in local (Swedish) wall-clock time; END is exclusive."""


def _last_sunday(year: int, month: int) -> date:
    day = date(year, month, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def utc_offset(local: datetime) -> timedelta:
    """The offset of Swedish local time (CET/CEST, EU rules) at the naive wall-clock time `local`."""
    summer_starts = datetime.combine(_last_sunday(local.year, 3), datetime.min.time()) + timedelta(hours=2)
    summer_ends = datetime.combine(_last_sunday(local.year, 10), datetime.min.time()) + timedelta(hours=3)
    return timedelta(hours=2 if summer_starts <= local < summer_ends else 1)


def rfc3339(local: datetime) -> str:
    """`local` (naive Swedish wall-clock time) as RFC 3339 with its offset, e.g. 2018-03-20T14:00:00+01:00."""
    hours = int(utc_offset(local).total_seconds()) // 3600
    return f"{local.replace(microsecond=0).isoformat()}+{hours:02d}:00"


def to_utc(local: datetime) -> datetime:
    return local - utc_offset(local)
