"""The partnership's published statistics, as pure functions of incidents and cases.

**Violence table** (per year, or per month): over confirmed, non-retracted incidents with their
latest attribution applied (`SourceFacts.incident`, i.e. `rules.current_incident`), dated by the
incident report's time in Europe/Stockholm:

* `shootings`: confirmed shootings;
* `shootings_without_injury`: confirmed shootings in which nobody was killed or injured;
* `killed_in_shootings`, `injured_in_shootings`: people killed, injured, in confirmed shootings;
* `explosions`: confirmed explosions.

**Follow-through** (per year or month of the incident, Stockholm time), over the cases of warned
groups (a case is one group's violation): `certainty` is the share of cases with at least one linked
sanction; `swiftness_median_days` and `swiftness_p90_days` are quantiles of `days_to_first_sanction`
over the sanctioned cases, by linear interpolation between order statistics (the inclusive method:
the median of 1, 2, 3, 10 is 2.5). Periods without cases are left out; a quantile of no sanctioned
case is null.

Filters: `area` (the incident's area) and a period `[start, end)` of Stockholm calendar dates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from services.contracts.group_state import CaseState, CaseStatus
from services.dashboard.readmodel.sources import IncidentView

__all__ = ["STOCKHOLM", "FollowThroughRow", "FollowThroughTotal", "Granularity", "StatsFilter",
           "ViolenceRow", "follow_through", "follow_through_total", "quantile", "violence_table"]

STOCKHOLM = ZoneInfo("Europe/Stockholm")


class Granularity(StrEnum):
    YEAR = "year"
    MONTH = "month"


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ViolenceRow(_Row):
    year: int
    month: int | None = None
    shootings: int = 0
    shootings_without_injury: int = 0
    killed_in_shootings: int = 0
    injured_in_shootings: int = 0
    explosions: int = 0


class FollowThroughTotal(_Row):
    cases: int
    sanctioned: int
    certainty: float | None
    """Sanctioned cases / cases, rounded to 3 decimals (None without cases)."""
    swiftness_median_days: float | None
    swiftness_p90_days: float | None


class FollowThroughRow(FollowThroughTotal):
    year: int
    month: int | None = None


@dataclass(frozen=True, slots=True)
class StatsFilter:
    area: str | None = None
    start: date | None = None
    """First Stockholm date included."""
    end: date | None = None
    """First Stockholm date excluded."""

    def admits(self, time: datetime, area: str | None) -> bool:
        if self.area is not None and area != self.area:
            return False
        local = time.astimezone(STOCKHOLM).date()
        return (self.start is None or local >= self.start) and (self.end is None or local < self.end)


def _period(time: datetime, granularity: Granularity) -> tuple[int, int | None]:
    local = time.astimezone(STOCKHOLM)
    return (local.year, local.month if granularity is Granularity.MONTH else None)


def violence_table(incidents: Iterable[IncidentView], *, granularity: Granularity = Granularity.YEAR,
                   where: StatsFilter = StatsFilter()) -> list[ViolenceRow]:
    """One row per period that has a confirmed shooting or explosion, oldest first."""
    counts: dict[tuple[int, int | None], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for incident in incidents:
        if not incident.confirmed or incident.kind not in ("shooting", "explosion"):
            continue
        if not where.admits(incident.time, incident.area):
            continue
        row = counts[_period(incident.time, granularity)]
        if incident.kind == "explosion":
            row["explosions"] += 1
            continue
        row["shootings"] += 1
        row["killed_in_shootings"] += incident.killed
        row["injured_in_shootings"] += incident.injured
        if incident.killed == 0 and incident.injured == 0:
            row["shootings_without_injury"] += 1
    return [ViolenceRow(year=year, month=month, **values)
            for (year, month), values in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))]


def quantile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0 <= q <= 1) by linear interpolation between order statistics; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value, 2)


def follow_through(cases: Iterable[tuple[str, CaseState]], area_of: Callable[[str], str | None], *,
                   granularity: Granularity = Granularity.YEAR,
                   where: StatsFilter = StatsFilter()) -> list[FollowThroughRow]:
    """`cases` as (group id, case); `area_of(incident_id)` gives an incident's area (None if unknown)."""
    periods: dict[tuple[int, int | None], list[CaseState]] = defaultdict(list)
    for _, case in cases:
        if where.admits(case.incident_time, area_of(case.incident_id)):
            periods[_period(case.incident_time, granularity)].append(case)
    return [FollowThroughRow(year=year, month=month, **_measures(in_period))
            for (year, month), in_period in sorted(periods.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))]


def follow_through_total(cases: Iterable[tuple[str, CaseState]], area_of: Callable[[str], str | None], *,
                         where: StatsFilter = StatsFilter()) -> FollowThroughTotal:
    """The same measures over every case the filter admits."""
    return FollowThroughTotal(**_measures([c for _, c in cases
                                           if where.admits(c.incident_time, area_of(c.incident_id))]))


def _measures(cases: Sequence[CaseState]) -> dict[str, Any]:
    swiftness = [c.days_to_first_sanction for c in cases
                 if c.status is not CaseStatus.AWAITING_SANCTION and c.days_to_first_sanction is not None]
    return {"cases": len(cases), "sanctioned": len(swiftness),
            "certainty": round(len(swiftness) / len(cases), 3) if cases else None,
            "swiftness_median_days": quantile(swiftness, 0.5), "swiftness_p90_days": quantile(swiftness, 0.9)}
