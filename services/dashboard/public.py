"""The public statistics page, without login: routes only, the table is `readmodel.public`'s.

`GET /public/stats` (HTML, no script) and `GET /public/stats.csv`, each with `area`, `granularity`
(`year`, `month`) and `lang` (`en`, `sv`; without it the browser's Accept-Language). The answer
depends on the URL and Accept-Language only: no cookie is read or set, nobody is identified, and no
access-log entry is written (nothing person- or group-level is shown, so there is nothing to log).
It is cacheable (`public, max-age=GVI_PUBLIC_CACHE_SECONDS`). The suppressed grid every table is a
view of (`public_grid`: one suppression across years, months, areas and all areas) is computed once
per change of the incidents, and each answer once per change too. An area that no counted incident
has is a 404, so the cache cannot be filled with made-up areas.
(No `from __future__ import annotations` here: FastAPI reads the route annotations.)
"""

import csv
import io
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from jinja2 import Environment

from services.dashboard.context import Dashboard, NotFound
from services.dashboard.i18n import LANGUAGES, Labels, choose_language, labels
from services.dashboard.readmodel.public import MEASURES, PublicGrid, PublicTable, public_grid
from services.dashboard.readmodel.stats import Granularity
from services.infra.spreadsheet import spreadsheet_safe

__all__ = ["public_csv", "public_router"]


def public_csv(table: PublicTable, t: Labels) -> bytes:
    """The table as CSV (UTF-8 with a byte-order mark, for spreadsheets): the same cells as the page,
    `<N` and `..` included, every cell quoted and passed through `spreadsheet_safe`."""
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    monthly = table.granularity is Granularity.MONTH
    period_head = [t["year"], t["month"]] if monthly else [t["year"]]
    writer.writerow([spreadsheet_safe(v) for v in [t["area"], *period_head, *(t[m.value] for m in MEASURES)]])
    area = table.area or t["any_area"]
    for row in table.rows:
        period = [str(row.year), f"{row.month:02d}"] if monthly and row.month else [str(row.year)]
        writer.writerow([spreadsheet_safe(v) for v in
                         [area, *period, *(c.text(table.threshold) for c in row.cells)]])
    writer.writerow([spreadsheet_safe(v) for v in
                     [area, t["total"], *([""] if monthly else []),
                      *(c.text(table.threshold) for c in table.total)]])
    return ("\ufeff" + text.getvalue()).encode()


def public_router(dash: Dashboard, env: Environment) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    stats = _PublicStats(dash, env)
    Area = Annotated[str | None, Query(max_length=200)]
    Lang = Annotated[str | None, Query(max_length=8)]

    @router.get("/public/stats")
    async def page(request: Request, area: Area = None, granularity: Granularity = Granularity.YEAR,
                   lang: Lang = None) -> Response:
        chosen = _language(request, lang)
        body = dash.cached(f"public-html-{chosen}-{granularity}-{area or ''}",
                           stats.key("html", area, granularity, chosen),
                           lambda: stats.html(area, granularity, chosen))
        return Response(body, media_type="text/html; charset=utf-8", headers=stats.headers())

    @router.get("/public/stats.csv")
    async def download(request: Request, area: Area = None, granularity: Granularity = Granularity.YEAR,
                       lang: Lang = None) -> Response:
        chosen = _language(request, lang)
        body = dash.cached(f"public-csv-{chosen}-{granularity}-{area or ''}",
                           stats.key("csv", area, granularity, chosen),
                           lambda: public_csv(stats.table(area, granularity), labels(chosen)))
        name = f"gvi-statistics-{granularity.value}-{chosen}.csv"
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers=stats.headers({"Content-Disposition": f'attachment; filename="{name}"'}))

    return router


def _language(request: Request, lang: str | None) -> str:
    return lang if lang in LANGUAGES else choose_language(None, request.headers.get("accept-language"))


class _PublicStats:
    """The table, the page and the answers' headers, for the routes above."""

    def __init__(self, dash: Dashboard, env: Environment) -> None:
        self.dash = dash
        self.env = env
        self.known: dict[int, PublicGrid] = {}

    def grid(self) -> PublicGrid:
        """The suppressed grid, computed once per change of the incidents: every page and CSV is a
        view of it, so they agree (and an unknown area, asked for without login, costs no pass over
        every incident)."""
        version = self.dash.model.sources.version
        if version not in self.known:
            self.known.clear()
            self.known[version] = public_grid(self.dash.model.sources.incidents(),
                                              threshold=self.dash.settings.public_min_cell)
        return self.known[version]

    def areas(self) -> list[str]:
        return list(self.grid().areas)

    def table(self, area: str | None, granularity: Granularity) -> PublicTable:
        if area and area not in self.grid().areas:
            raise NotFound("no statistics for that area: choose one from the list")
        return self.grid().table(granularity, area or None)

    def html(self, area: str | None, granularity: Granularity, chosen: str) -> bytes:
        found = self.table(area, granularity)
        params = {k: v for k, v in (("area", area or ""), ("granularity", granularity.value)) if v}
        other = "en" if chosen == "sv" else "sv"
        return self.env.get_template("public_stats.html").render(
            t=labels(chosen), lang=chosen, other_lang=other, table=found, measures=MEASURES,
            area=area or "", areas=self.areas(),
            query=urlencode({**params, "lang": chosen}),
            other_query=urlencode({**params, "lang": other})).encode()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Cache-Control": f"public, max-age={self.dash.settings.public_cache_seconds}",
                "Vary": "Accept-Language", **(extra or {})}

    def key(self, kind: str, area: str | None, granularity: Granularity, lang: str) -> tuple[object, ...]:
        return (self.dash.model.sources.version, self.dash.settings.public_min_cell, kind, area or "",
                granularity, lang)
