"""The public statistics table (a pure function of the incidents as they count): Stockholm years and
months across New Year and both DST changes, small-number suppression within one table, both
explosion definitions, the area filter. Suppression across tables: test_public_stats_grid."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from services.contracts import CloudEvent
from services.dashboard.readmodel.public import (
    MEASURES,
    Cell,
    Measure,
    PublicTable,
    public_areas,
    public_table,
)
from services.dashboard.readmodel.sources import IncidentView
from services.dashboard.readmodel.stats import Granularity
from tests.unit.dashboard.pipeline import Pipeline
from tests.unit.dashboard.test_dashboard_stats import attribution, report
from tests.unit.domain import builders as b

_ids = count()


def shot(time: str, **kw: Any) -> CloudEvent:
    n = next(_ids)
    return report(f"r{n}", f"i{n}", time, **kw)


def cells(table: PublicTable) -> list[tuple[object, ...]]:
    return [(r.year, r.month, *(c.text(table.threshold) for c in r.cells)) for r in table.rows]


def column(table: PublicTable, measure: Measure) -> list[str]:
    index = MEASURES.index(measure)
    return [r.cells[index].text(table.threshold) for r in table.rows]


def incidents_of(*events: CloudEvent) -> list[IncidentView]:
    pipe = Pipeline()
    pipe.post(*events)
    return pipe.model.sources.incidents()


def table_of(*events: CloudEvent, threshold: int = 2, **kw: Any) -> PublicTable:
    return public_table(incidents_of(*events), threshold=threshold, **kw)


def test_years_turn_at_stockholm_midnight_on_new_years_eve() -> None:
    table = table_of(shot("2019-12-31T22:59:59Z"),                 # 23:59:59 CET: still 2019
                     shot("2019-12-31T23:00:00Z"),                 # 00:00 on 1 January 2020
                     shot("2020-12-31T23:30:00Z"), threshold=2)    # 00:30 on 1 January 2021
    assert [(r.year, r.cells[0]) for r in table.rows] == [(2019, Cell(None, suppressed=True)),
                                                          (2020, Cell(None, suppressed=True)),
                                                          (2021, Cell(None, suppressed=True))]
    months = table_of(shot("2019-12-31T22:59:59Z"), shot("2019-12-31T23:00:00Z"),
                      granularity=Granularity.MONTH)
    assert [(r.year, r.month) for r in months.rows] == [(2019, 12), (2020, 1)]


def test_months_turn_at_stockholm_midnight_in_summer_time_and_in_winter_time() -> None:
    table = table_of(
        shot("2021-03-31T21:59:59Z"), shot("2021-03-31T22:00:00Z"),     # CEST (UTC+2): March | April
        shot("2021-10-31T22:59:59Z"), shot("2021-10-31T23:00:00Z"),     # CET (UTC+1): October | November
        shot("2021-03-28T00:30:00Z"), shot("2021-03-28T01:30:00Z"),     # the spring-forward night
        threshold=2, granularity=Granularity.MONTH)
    shootings = {(r.year, r.month): r.cells[0] for r in table.rows}
    assert shootings[(2021, 3)] == Cell(3) and shootings[(2021, 4)] == Cell(None, suppressed=True)
    assert shootings[(2021, 10)] == Cell(None, suppressed=True)
    assert shootings[(2021, 11)] == Cell(None, suppressed=True)
    assert [m for y, m in shootings] == list(range(3, 12))          # empty months read as zeros
    assert shootings[(2021, 6)] == Cell(0)


def test_counts_below_the_threshold_are_shown_as_less_than_it_and_zero_is_shown() -> None:
    events = [shot("2020-03-01T12:00:00Z") for _ in range(3)]                      # 2020: 3 shootings
    events += [shot("2021-03-01T12:00:00Z", injured=1) for _ in range(2)]          # 2021: 2, with injured
    events += [shot("2022-03-01T12:00:00Z", killed=1) for _ in range(4)]           # 2022: 4, 4 killed
    table = table_of(*events, threshold=3)
    assert cells(table) == [
        (2020, None, "..", "3", "0", "0", "0", "0"),
        (2021, None, "<3", "0", "0", "<3", "0", "0"),
        (2022, None, "4", "0", "4", "0", "0", "0"),
    ]
    # the total of shootings, 9, less 4 would give back 2021's 2: 2020 (the smaller year) is withheld
    # with it, so 2021 is 1 or 2 and 2020 3 or 4; injured has one small year, so its total is small too
    assert [c.text(3) for c in table.total] == ["9", "3", "4", "<3", "0", "0"]


def test_two_small_years_a_total_would_pin_to_one_each_are_joined_by_another_year_withheld() -> None:
    table = table_of(shot("2020-01-01T12:00:00Z"), shot("2021-01-01T12:00:00Z"),
                     *(shot("2022-01-01T12:00:00Z") for _ in range(5)), threshold=3)
    # 7 less 5 leaves 2 for two years that each are at least 1: both would be 1
    assert column(table, Measure.SHOOTINGS) == ["<3", "<3", ".."]
    assert table.total[0] == Cell(7)


def test_explosions_count_every_report_and_separately_the_confirmed_ones() -> None:
    table = table_of(
        report("e1", "x1", "2020-05-01T12:00:00Z", kind="explosion", confirmed=False),
        report("e2", "x2", "2020-05-02T12:00:00Z", kind="explosion", confirmed=True),
        report("e3", "x3", "2020-05-03T12:00:00Z", kind="explosion", confirmed=True),
        attribution("a3", "x3", 2000, confirmed=False),                       # un-confirmed by a review
        report("e4", "x4", "2020-05-04T12:00:00Z", kind="explosion", confirmed=False),
        attribution("a4", "x4", 2000, confirmed=True),                        # confirmed by a review
        report("e5", "x5", "2020-05-05T12:00:00Z", kind="explosion", confirmed=True),
        b.retraction("z5", "e5", 2001),                                       # withdrawn: never happened
        report("e6", "x6", "2020-05-06T12:00:00Z", kind="explosion", confirmed=True),
        report("s1", "y1", "2020-05-07T12:00:00Z", confirmed=False),           # a suspected shooting
        report("s2", "y2", "2020-05-08T12:00:00Z", kind="arson"),
        threshold=2)
    assert column(table, Measure.EXPLOSIONS_REPORTED) == ["5"]
    assert column(table, Measure.EXPLOSIONS_CONFIRMED) == ["3"]
    assert column(table, Measure.SHOOTINGS) == ["0"]


def test_the_area_filter_counts_only_that_area_and_lists_only_areas_with_countedincidents_of() -> None:
    events = [shot("2020-01-01T12:00:00Z", area="Seved") for _ in range(3)]
    events += [shot("2020-01-01T12:00:00Z", area="Rosengård") for _ in range(4)]
    events += [report("e1", "x1", "2020-02-01T12:00:00Z", kind="explosion", area="Rosengård",
                      confirmed=False),
               shot("2020-03-01T12:00:00Z", area="Hermodsdal", confirmed=False),   # not counted
               report("a1", "y1", "2020-03-01T12:00:00Z", kind="aggravated_assault", area="Lindängen")]
    incidents = incidents_of(*events)
    assert public_areas(incidents) == ["Rosengård", "Seved"]
    seved = public_table(incidents, threshold=3, area="Seved")
    assert cells(seved) == [(2020, None, "3", "3", "0", "0", "0", "0")]
    rosengard = public_table(incidents, threshold=3, area="Rosengård")
    assert cells(rosengard) == [(2020, None, "4", "4", "0", "0", "<3", "0")]
    everywhere = public_table(incidents, threshold=3)
    assert cells(everywhere) == [(2020, None, "7", "7", "0", "0", "<3", "0")]
    assert public_table(incidents, threshold=3, area="Hermodsdal").rows == ()


def test_a_threshold_below_two_would_suppress_nothing_and_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        public_table([], threshold=1)
    empty = public_table([], threshold=3, granularity=Granularity.MONTH)
    assert empty.rows == () and [c.text(3) for c in empty.total] == ["0"] * len(MEASURES)
