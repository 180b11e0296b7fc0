"""Suppression across the public tables: every view (per year and per month, each area and all areas,
their totals) is read as a reader would, and no one sum between them gives back a hidden count."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import count

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.dashboard.readmodel.public import MEASURES, Measure, public_areas, public_grid
from services.dashboard.readmodel.sources import IncidentView
from services.dashboard.readmodel.stats import Granularity

_ids = count()
Key = tuple[str | None, int | None, int | None]


def incident(area: str, year: int, month: int, kind: str = "shooting", *, confirmed: bool = True,
             killed: int = 0, injured: int = 0) -> IncidentView:
    return IncidentView(f"i{next(_ids)}", datetime(year, month, 15, 12, tzinfo=UTC), kind, area, confirmed,
                        killed, injured, frozenset(), frozenset())


def many(n: int, area: str, year: int, month: int, **kw: object) -> list[IncidentView]:
    return [incident(area, year, month, **kw) for _ in range(n)]  # type: ignore[arg-type]


def published(incidents: list[IncidentView], threshold: int, measure: Measure) -> dict[Key, str]:
    """Every figure of one measure on every page, as text, by (area, year, month); a period outside a
    table's rows reads as 0 (its total is the sum of the rows). The same figure in two views must read
    the same."""
    grid = public_grid(incidents, threshold=threshold)
    index = MEASURES.index(measure)
    seen: dict[Key, str] = {}
    for area in (None, *public_areas(incidents)):
        for granularity in Granularity:
            table = grid.table(granularity, area)
            found = {(area, r.year, r.month): r.cells[index].text(threshold) for r in table.rows}
            found[(area, None, None)] = table.total[index].text(threshold)
            for key, text in found.items():
                assert seen.setdefault(key, text) == text, (key, seen[key], text)
    return seen


def relations(seen: dict[Key, str]) -> list[tuple[Key, list[Key]]]:
    areas = sorted({a for a, _, _ in seen if a is not None})
    years = sorted({y for _, y, _ in seen if y is not None})
    out: list[tuple[Key, list[Key]]] = []
    for area in (None, *areas):
        out += [((area, y, None), [(area, y, m) for m in range(1, 13)]) for y in years]
        out.append(((area, None, None), [(area, y, None) for y in years]))
        out.append(((area, None, None), [(area, y, m) for y in years for m in range(1, 13)]))
    periods = [(y, m) for y in years for m in (None, *range(1, 13))] + [(None, None)]
    out += [((None, y, m), [(a, y, m) for a in areas]) for y, m in periods]
    return out


def interval(text: str, threshold: int) -> tuple[float, float]:
    """What a reader knows of a figure: `<t` is 1..t-1; `..` is neither 0 (shown) nor below t."""
    if text == f"<{threshold}":
        return 1, threshold - 1
    if text == "..":
        return threshold, math.inf
    return int(text), int(text)


def pinned(parent: Key, children: list[Key], seen: dict[Key, str], threshold: int) -> list[Key]:
    """The hidden figures this one relation narrows to a single value they did not have."""
    known = {k: interval(seen.get(k, "0"), threshold) for k in (parent, *children)}
    out = []
    for cell in (parent, *children):
        own = known[cell]
        if own[0] == own[1]:
            continue
        if cell == parent:
            low = sum(known[c][0] for c in children)
            high = sum(known[c][1] for c in children)
        else:
            others = [known[c] for c in children if c != cell]
            low = known[parent][0] - sum(o[1] for o in others)
            high = known[parent][1] - sum(o[0] for o in others)
        if max(own[0], low) >= min(own[1], high):
            out.append(cell)
    return out


def truth(incidents: Iterable[IncidentView], measure: Measure) -> dict[Key, int]:
    out: dict[Key, int] = {}
    for i in incidents:
        shooting = i.kind == "shooting" and i.confirmed
        value = {Measure.SHOOTINGS: shooting,
                 Measure.SHOOTINGS_WITHOUT_INJURY: shooting and not i.killed + i.injured,
                 Measure.KILLED_IN_SHOOTINGS: i.killed * shooting,
                 Measure.INJURED_IN_SHOOTINGS: i.injured * shooting,
                 Measure.EXPLOSIONS_REPORTED: i.kind == "explosion",
                 Measure.EXPLOSIONS_CONFIRMED: i.kind == "explosion" and i.confirmed}[measure]
        for area in (None, i.area):
            for key in ((area, i.time.year, i.time.month), (area, i.time.year, None), (area, None, None)):
                out[key] = out.get(key, 0) + int(value)
    return out


incident_sets = st.lists(st.builds(
    incident, st.sampled_from(["Seved", "Rosengård", "Hermodsdal", "Lindängen"]), st.integers(2020, 2022),
    st.integers(1, 12), st.sampled_from(["shooting", "explosion"]), confirmed=st.booleans(),
    killed=st.integers(0, 2), injured=st.integers(0, 2)), max_size=60)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(incident_sets, st.sampled_from([2, 3, 5]))
def test_no_one_sum_across_all_views_gives_back_a_hidden_count(incidents: list[IncidentView],
                                                                threshold: int) -> None:
    for measure in MEASURES:
        seen = published(incidents, threshold, measure)
        real = truth(incidents, measure)
        for key, text in seen.items():
            value = real.get(key, 0)
            assert (text == f"<{threshold}") == (0 < value < threshold), (key, text, value)
            assert (text == ".." and value >= threshold) or text in (str(value), f"<{threshold}"), (key, text)
        for parent, children in relations(seen):
            cells = [parent, *children]
            hidden = [k for k in cells if seen.get(k, "0") in ("..", f"<{threshold}")]
            assert len(hidden) != 1, (measure, parent, hidden)
            if pinned(parent, children, seen, threshold):
                # only where nothing is left to hide: every nonzero figure of the relation is hidden
                assert all(real.get(k, 0) == 0 or k in hidden for k in cells), (measure, parent, hidden)


def test_a_year_is_no_longer_shown_beside_its_months_with_only_one_of_them_suppressed() -> None:
    incidents = [*many(1, "Seved", 2020, 1), *many(5, "Seved", 2020, 3)]
    seen = published(incidents, 3, Measure.SHOOTINGS)
    assert seen[("Seved", 2020, None)] == "6"                # before: 6 less March's 5 gave January's 1
    assert (seen[("Seved", 2020, 1)], seen[("Seved", 2020, 3)]) == ("<3", "..")
    assert (seen[(None, 2020, 1)], seen[(None, 2020, 3)]) == ("<3", "..")


def test_an_area_suppressed_is_no_longer_given_back_by_all_areas_less_the_others() -> None:
    incidents = [*many(1, "Seved", 2020, 6), *many(4, "Rosengård", 2020, 6), *many(5, "Lindängen", 2020, 6)]
    seen = published(incidents, 3, Measure.SHOOTINGS)
    assert seen[(None, 2020, None)] == "10" and seen[("Lindängen", 2020, None)] == "5"
    assert seen[("Seved", 2020, None)] == "<3"
    assert seen[("Rosengård", 2020, None)] == ".."           # before: 4, and 10 - 4 - 5 gave Seved's 1
    assert seen[("Rosengård", 2020, 6)] == ".." and seen[("Rosengård", None, None)] == ".."


def test_two_small_months_that_a_shown_year_would_pin_to_one_each_get_a_partner() -> None:
    incidents = [*many(1, "Seved", 2021, 1), *many(1, "Seved", 2021, 2), *many(4, "Seved", 2021, 3)]
    seen = published(incidents, 3, Measure.SHOOTINGS)
    # 6 less March's 4 would leave 2 for two months that each are at least 1: both 1
    assert [seen[("Seved", 2021, m)] for m in (1, 2, 3)] == ["<3", "<3", ".."]
    assert seen[("Seved", 2021, None)] == "6"


def test_a_withheld_figure_reads_differently_from_a_small_one_and_zeros_stay_shown() -> None:
    incidents = [*many(1, "Seved", 2020, 1), *many(7, "Seved", 2020, 2)]
    grid = public_grid(incidents, threshold=3)
    rows = {r.month: r.cells[0] for r in grid.table(Granularity.MONTH, "Seved").rows}
    assert rows[1].text(3) == "<3" and rows[1].suppressed
    assert rows[2].text(3) == ".." and rows[2].withheld and rows[2].count is None
    assert [c.text(3) for c in grid.table(Granularity.MONTH, "Seved").rows[0].cells[2:]] == ["0"] * 4
