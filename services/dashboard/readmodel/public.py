"""The public statistics table: counts per Stockholm year or month (and area), with small numbers
suppressed. A pure function of the incidents as they currently count (`SourceFacts.incidents()`:
retractions and the latest attribution applied); nothing in it names a group, an incident, a person,
a date or a time of day.

**Measures** (over non-retracted incidents, dated by the report's time in Europe/Stockholm):

* `shootings`: confirmed shootings (as the partnership publishes them);
* `shootings_without_injury`: confirmed shootings in which nobody was killed or injured;
* `killed_in_shootings`, `injured_in_shootings`: people killed, injured, in confirmed shootings;
* `explosions_reported`: every reported explosion, confirmed or not (the published figures'
  definition: "all reported events where explosives were used");
* `explosions_confirmed`: of those, the ones a review confirmed (the operations dashboard's chart).

**Suppression** with a threshold `t` (`GVI_PUBLIC_MIN_CELL`, at least 2):

1. *Primary*: a cell with a count from 1 to t-1 is shown as `<t`. A zero is shown: it counts nobody.
2. *Totals*: the table's total of a column is the sum of every period's count, and it is shown only
   when none of that column's cells is suppressed; otherwise it is withheld (`..`), since the total
   less the cells shown would give back the suppressed cell (or, for several, their sum). So no
   figure on a page can be subtracted to recover a suppressed one.

A period's row exists for every year (or month) from the first to the last one with a counted
incident in the area, so an empty period reads as zeros rather than as a gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from services.dashboard.readmodel.sources import IncidentView
from services.dashboard.readmodel.stats import STOCKHOLM, Granularity

__all__ = ["MEASURES", "WITHHELD", "Cell", "Measure", "PublicRow", "PublicTable", "public_areas",
           "public_table"]

WITHHELD = ".."
"""How a total that would reveal a suppressed cell is shown."""


class Measure(StrEnum):
    SHOOTINGS = "shootings"
    SHOOTINGS_WITHOUT_INJURY = "shootings_without_injury"
    KILLED_IN_SHOOTINGS = "killed_in_shootings"
    INJURED_IN_SHOOTINGS = "injured_in_shootings"
    EXPLOSIONS_REPORTED = "explosions_reported"
    EXPLOSIONS_CONFIRMED = "explosions_confirmed"


MEASURES = tuple(Measure)


@dataclass(frozen=True, slots=True)
class Cell:
    """A published figure: `count` when it may be shown, None when suppressed or withheld."""

    count: int | None
    suppressed: bool = False
    """Below the threshold (shown `<t`)."""
    withheld: bool = False
    """A total that would reveal a suppressed cell (shown `..`)."""

    def text(self, threshold: int) -> str:
        if self.suppressed:
            return f"<{threshold}"
        if self.withheld:
            return WITHHELD
        return str(self.count)


@dataclass(frozen=True, slots=True)
class PublicRow:
    year: int
    month: int | None
    cells: tuple[Cell, ...]
    """One per `MEASURES`, in that order."""


@dataclass(frozen=True, slots=True)
class PublicTable:
    granularity: Granularity
    area: str | None
    threshold: int
    rows: tuple[PublicRow, ...]
    total: tuple[Cell, ...]


Period = tuple[int, int | None]


def _counts(incident: IncidentView) -> dict[Measure, int]:
    if incident.kind == "explosion":
        return {Measure.EXPLOSIONS_REPORTED: 1, Measure.EXPLOSIONS_CONFIRMED: int(incident.confirmed)}
    if incident.kind == "shooting" and incident.confirmed:
        unhurt = incident.killed == 0 and incident.injured == 0
        return {Measure.SHOOTINGS: 1, Measure.SHOOTINGS_WITHOUT_INJURY: int(unhurt),
                Measure.KILLED_IN_SHOOTINGS: incident.killed, Measure.INJURED_IN_SHOOTINGS: incident.injured}
    return {}


def _periods(first: Period, last: Period, granularity: Granularity) -> list[Period]:
    if granularity is Granularity.YEAR:
        return [(year, None) for year in range(first[0], last[0] + 1)]
    out: list[Period] = []
    year, month = first[0], first[1] or 1
    while (year, month) <= (last[0], last[1] or 1):
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _cell(count: int, threshold: int) -> Cell:
    return Cell(None, suppressed=True) if 0 < count < threshold else Cell(count)


def public_table(incidents: Iterable[IncidentView], *, threshold: int,
                 granularity: Granularity = Granularity.YEAR, area: str | None = None) -> PublicTable:
    """The suppressed table for one area (None: all areas), oldest period first."""
    if threshold < 2:
        raise ValueError("the suppression threshold must be at least 2")
    counts: dict[Period, dict[Measure, int]] = {}
    for incident in incidents:
        if area is not None and incident.area != area:
            continue
        found = _counts(incident)
        if not found:
            continue
        local = incident.time.astimezone(STOCKHOLM)
        period = (local.year, local.month if granularity is Granularity.MONTH else None)
        row = counts.setdefault(period, dict.fromkeys(MEASURES, 0))
        for measure, value in found.items():
            row[measure] += value
    if not counts:
        return PublicTable(granularity, area, threshold, (), tuple(Cell(0) for _ in MEASURES))
    periods = _periods(min(counts, key=_order), max(counts, key=_order), granularity)
    empty = dict.fromkeys(MEASURES, 0)
    rows = tuple(PublicRow(year, month, tuple(_cell(counts.get((year, month), empty)[m], threshold)
                                              for m in MEASURES))
                 for year, month in periods)
    total = []
    for index, measure in enumerate(MEASURES):
        if any(row.cells[index].suppressed for row in rows):
            total.append(Cell(None, withheld=True))
        else:
            total.append(Cell(sum(c[measure] for c in counts.values())))
    return PublicTable(granularity, area, threshold, rows, tuple(total))


def _order(period: Period) -> tuple[int, int]:
    return period[0], period[1] or 0


def public_areas(incidents: Iterable[IncidentView]) -> list[str]:
    """The areas the public table can be filtered by: those with an incident the table counts."""
    return sorted({i.area for i in incidents if _counts(i)})
