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

**Suppression** with a threshold `t` (`GVI_PUBLIC_MIN_CELL`, which is at least 3: zeros are
shown, so `<2` would be 1; the function takes 2 too), over the whole grid at
once (`public_grid`): for each measure, every cell any page or CSV can show, that is each area and all
areas, by month, by year and for all time. Its additive relations are: a year is the sum of its
months, the all-time total the sum of the years and of the months (per area and for all areas), and
all areas the sum of the areas (per month, year and all time). The rule is `suppression.suppress`:

1. *Primary*: a cell with a count from 1 to t-1 is shown as `<t`. A zero is shown: it counts nobody.
2. *Secondary*: while one relation, with what is shown of it, gives back a hidden cell (it has
   exactly one, or the intervals of the others pin it), one more nonzero cell of it is hidden and
   shown as `..` (withheld); `suppression` says which. A `..` cell is not small: it may be large.

Every table served is a view of that one grid (`PublicGrid.table`), so the yearly and monthly pages,
each area's and all areas', and their CSVs all show the same cell the same way, and no single sum on
any of them gives back a hidden cell. The area is required of every report (the contracts' `Name`),
so all areas is exactly the sum of the areas listed: there is no unpublished remainder. (Were there
one, all areas less the areas shown would give it, so it would have to be a cell of the grid, shown
or suppressed like the others, not a hidden one.)

A period's row exists for every year (or month) from the first to the last one with a counted
incident in the area, so an empty period reads as zeros rather than as a gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from services.dashboard.readmodel.sources import IncidentView
from services.dashboard.readmodel.stats import STOCKHOLM, Granularity
from services.dashboard.readmodel.suppression import Mark, Relation, suppress

__all__ = ["MEASURES", "WITHHELD", "Cell", "GridKey", "Measure", "PublicGrid", "PublicRow", "PublicTable",
           "grid_relations", "public_areas", "public_grid", "public_table"]

WITHHELD = ".."
"""How a figure is shown that is hidden so that no other could reveal a suppressed one."""


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
    """Hidden so that no published sum reveals a suppressed cell (shown `..`); at least t."""

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


GridKey = tuple[str | None, int | None, int | None]
"""A cell of the grid: (area, None for all areas; year, None for all time; month, None for the year)."""

_Counts = dict[tuple[str, Period], dict[Measure, int]]


@dataclass(frozen=True, slots=True)
class PublicGrid:
    """Every figure the public page and its CSV can show, suppressed as one (the module's rule)."""

    threshold: int
    areas: tuple[str, ...]
    """The areas the page can be filtered by: those with an incident the table counts."""
    spans: dict[str | None, tuple[Period, Period]]
    """Per area (None: all), the first and the last month with a counted incident."""
    cells: dict[GridKey, tuple[Cell, ...]]
    """One per `MEASURES`, in that order."""

    def table(self, granularity: Granularity = Granularity.YEAR, area: str | None = None) -> PublicTable:
        """The view of one area (None: all areas), oldest period first."""
        if area not in self.spans:
            return PublicTable(granularity, area, self.threshold, (), tuple(Cell(0) for _ in MEASURES))
        first, last = self.spans[area]
        rows = tuple(PublicRow(year, month, self.cells[(area, year, month)])
                     for year, month in _periods(first, last, granularity))
        return PublicTable(granularity, area, self.threshold, rows, self.cells[(area, None, None)])


def public_grid(incidents: Iterable[IncidentView], *, threshold: int) -> PublicGrid:
    """The whole grid, suppressed: compute it once per version of the incidents, then `table`."""
    if threshold < 2:
        raise ValueError("the suppression threshold must be at least 2")
    counts = _monthly_counts(incidents)
    if not counts:
        return PublicGrid(threshold, (), {}, {})
    areas = tuple(sorted({area for area, _ in counts}))
    spans: dict[str | None, tuple[Period, Period]] = {}
    for area, period in counts:
        for key in (area, None):
            first, last = spans.get(key, (period, period))
            spans[key] = (min(first, period), max(last, period))
    months = _periods(*spans[None], Granularity.MONTH)
    relations = grid_relations(areas, months)
    marks = {}
    values = {}
    for measure in MEASURES:
        values[measure] = _values(counts, measure, areas, months)
        marks[measure] = suppress(values[measure], relations, threshold)
    cells = {key: tuple(_shown(values[m][key], marks[m].get(key)) for m in MEASURES)
             for key in values[MEASURES[0]]}
    return PublicGrid(threshold, areas, spans, cells)


def grid_relations(areas: tuple[str, ...], months: list[Period]) -> list[Relation[GridKey]]:
    """The additive relations of the grid: per area and for all areas, each year is the sum of its
    months and the all-time total the sum of the years and of the months; per period, all areas
    is the sum of the areas."""
    years = sorted({year for year, _ in months})
    relations: list[Relation[GridKey]] = []
    for area in (None, *areas):
        for year in years:
            in_year = tuple((area, y, m) for y, m in months if y == year)
            relations.append(Relation((area, year, None), in_year))
        relations.append(Relation((area, None, None), tuple((area, y, None) for y in years)))
        relations.append(Relation((area, None, None), tuple((area, y, m) for y, m in months)))
    periods: list[tuple[int | None, int | None]] = [*months, *((y, None) for y in years), (None, None)]
    for when in periods:
        relations.append(Relation((None, *when), tuple((a, *when) for a in areas)))
    return relations


def _monthly_counts(incidents: Iterable[IncidentView]) -> _Counts:
    counts: _Counts = {}
    for incident in incidents:
        found = _counts(incident)
        if not found:
            continue
        local = incident.time.astimezone(STOCKHOLM)
        row = counts.setdefault((incident.area, (local.year, local.month)), dict.fromkeys(MEASURES, 0))
        for measure, value in found.items():
            row[measure] += value
    return counts


def _values(counts: _Counts, measure: Measure, areas: tuple[str, ...],
            months: list[Period]) -> dict[GridKey, int]:
    """One measure over the grid, in the grid's order: all areas first, then each area; within one,
    the all-time total, the years, the months (the order breaks ties when choosing what to hide)."""
    years = sorted({year for year, _ in months})
    monthly: dict[str | None, dict[Period, int]] = {area: dict.fromkeys(months, 0) for area in (None, *areas)}
    for (where, period), found in counts.items():
        monthly[where][period] += found[measure]
        monthly[None][period] += found[measure]
    values: dict[GridKey, int] = {}
    for area, by_month in monthly.items():
        values[(area, None, None)] = sum(by_month.values())
        for year in years:
            values[(area, year, None)] = sum(v for (y, _), v in by_month.items() if y == year)
        for (year, month), value in by_month.items():
            values[(area, year, month)] = value
    return values


def _shown(count: int, mark: Mark | None) -> Cell:
    if mark is Mark.PRIMARY:
        return Cell(None, suppressed=True)
    if mark is Mark.SECONDARY:
        return Cell(None, withheld=True)
    return Cell(count)


def public_table(incidents: Iterable[IncidentView], *, threshold: int,
                 granularity: Granularity = Granularity.YEAR, area: str | None = None) -> PublicTable:
    """One view of `public_grid` (for a single answer; the server keeps the grid per version)."""
    return public_grid(incidents, threshold=threshold).table(granularity, area)


def public_areas(incidents: Iterable[IncidentView]) -> list[str]:
    """The areas the public table can be filtered by: those with an incident the table counts."""
    return sorted({i.area for i in incidents if _counts(i)})
