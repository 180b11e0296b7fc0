"""The published statistics: confirmed, non-retracted incidents, latest attribution applied, years in
Stockholm time; and follow-through (swiftness, certainty) from the processor's cases."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.contracts import CloudEvent
from services.dashboard.readmodel.stats import (
    Granularity,
    StatsFilter,
    follow_through,
    follow_through_total,
    quantile,
    violence_table,
)
from tests.unit.dashboard.pipeline import Pipeline
from tests.unit.domain import builders as b


def report(id: str, incident: str, time: str, *, kind: str = "shooting", area: str = "Seved",
           confirmed: bool = True, killed: int = 0, injured: int = 0, suspected: list[str] | None = None
           ) -> CloudEvent:
    raw: dict[str, Any] = {"incident_id": incident, "kind": kind, "area": area, "confirmed": confirmed,
                           "killed": killed, "injured": injured, "suspected_group_ids": suspected or [],
                           "victim_group_ids": []}
    event = b.event("gvi.incident.reported.v1", id, 0, raw)
    return event.model_copy(update={"time": b.parse_event({**event.to_dict(), "time": time},
                                                         allow_intake_attributes=True).time})


def attribution(id: str, incident: str, day: float, *, confirmed: bool) -> CloudEvent:
    return b.attribution(id, incident, day, [], confirmed=confirmed)


@pytest.fixture
def scenario() -> Pipeline:
    pipe = Pipeline()
    pipe.post(
        report("r1", "i1", "2019-03-01T20:00:00Z", killed=1),
        report("r2", "i2", "2019-12-31T23:30:00Z", injured=2),          # 2020-01-01 00:30 in Stockholm
        report("r3", "i3", "2019-05-01T12:00:00Z", confirmed=False),    # confirmed by a later review
        attribution("a3", "i3", 2000, confirmed=True),
        report("r4", "i4", "2019-06-01T12:00:00Z", injured=5),          # un-confirmed by a later review
        attribution("a4", "i4", 2000, confirmed=False),
        report("r5", "i5", "2019-07-01T12:00:00Z", kind="explosion", area="Rosengård"),
        report("r6", "i6", "2019-08-01T12:00:00Z", killed=3),           # retracted
        b.retraction("x6", "r6", 2001),
        report("r7", "i7", "2020-02-01T12:00:00Z", area="Rosengård"),
        report("r8", "i8", "2019-09-01T12:00:00Z", kind="aggravated_assault", injured=1),
    )
    pipe.post(report("r7", "i7", "2020-02-01T12:00:00Z", area="Rosengård"))  # a re-delivered copy
    return pipe


def test_the_yearly_table_applies_reattributions_retractions_and_stockholm_years(scenario: Pipeline) -> None:
    rows = violence_table(scenario.model.sources.incidents())
    assert [r.model_dump(exclude_none=True) for r in rows] == [
        {"year": 2019, "shootings": 2, "shootings_without_injury": 1, "killed_in_shootings": 1,
         "injured_in_shootings": 0, "explosions": 1},
        {"year": 2020, "shootings": 2, "shootings_without_injury": 1, "killed_in_shootings": 0,
         "injured_in_shootings": 2, "explosions": 0},
    ]


def test_a_retraction_of_the_retracted_report_arriving_first_still_counts_it_out() -> None:
    pipe = Pipeline()
    pipe.post(b.retraction("x1", "r1", 1), report("r1", "i1", "2019-03-01T20:00:00Z"))
    assert violence_table(pipe.model.sources.incidents()) == []


def test_filters_by_area_and_period_and_months(scenario: Pipeline) -> None:
    incidents = scenario.model.sources.incidents()
    rosengard = violence_table(incidents, where=StatsFilter(area="Rosengård"))
    assert [(r.year, r.shootings, r.explosions) for r in rosengard] == [(2019, 0, 1), (2020, 1, 0)]
    period = violence_table(incidents, where=StatsFilter(start=date(2019, 12, 1), end=date(2020, 1, 2)))
    assert [(r.year, r.shootings, r.injured_in_shootings) for r in period] == [(2020, 1, 2)]
    months = violence_table(incidents, granularity=Granularity.MONTH,
                            where=StatsFilter(start=date(2020, 1, 1)))
    assert [(r.year, r.month, r.shootings) for r in months] == [(2020, 1, 1), (2020, 2, 1)]


def test_quantiles_interpolate_between_order_statistics() -> None:
    assert quantile([1, 2, 3, 10], 0.5) == 2.5
    assert quantile([4], 0.9) == 4
    assert quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9.1
    assert quantile([], 0.5) is None


def test_follow_through_counts_swiftness_and_certainty_per_year() -> None:
    pipe = Pipeline()
    pipe.post(
        b.warning("w1", "norra", 1), b.warning("w2", "sodra", 1),
        b.incident("r1", "i1", 10, ["norra"]), b.sanction("s1", 12, group="norra", incident="i1"),
        b.incident("r2", "i2", 20, ["sodra"]), b.sanction("s2", 30, group="sodra", incident="i2"),
        b.incident("r3", "i3", 40, ["norra"]),                       # awaiting: no sanction
        b.incident("r4", "i4", 400, ["norra"]), b.sanction("s4", 401, group="norra", incident="i4"),
    )

    def area_of(incident_id: str) -> str | None:
        found = pipe.model.sources.incident(incident_id)
        return found.area if found else None

    rows = follow_through(pipe.model.cases(), area_of)
    assert [(r.year, r.cases, r.sanctioned, r.certainty, r.swiftness_median_days, r.swiftness_p90_days)
            for r in rows] == [(2024, 3, 2, 0.667, 6.0, 9.2), (2025, 1, 1, 1.0, 1.0, 1.0)]
    total = follow_through_total(pipe.model.cases(), area_of)
    assert (total.cases, total.sanctioned, total.certainty, total.swiftness_median_days) == (4, 3, 0.75, 2.0)
    nowhere = follow_through_total(pipe.model.cases(), area_of, where=StatsFilter(area="Nowhere"))
    assert nowhere.certainty is None
