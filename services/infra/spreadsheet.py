"""CSV cells that a spreadsheet does not run as formulas (CSV injection; OWASP's recommendation).

Excel, LibreOffice and Google Sheets read a cell that starts with `=`, `+`, `-` or `@` as a formula,
and one that starts with a tab or a carriage return may be trimmed into one. A formula can fetch
addresses (`=HYPERLINK(...)`, `=WEBSERVICE(...)`) or, in old Excel, run a program (DDE). So such a cell
gets a single quote in front, which spreadsheets show as text and never evaluate. Only text changes;
numbers and empty cells are written as they are. The quote is part of the exported value: whoever needs
the value byte for byte reads the JSON lines export, or strips one leading quote before those characters.

Every CSV the project writes passes its cells through `spreadsheet_safe` and quotes every cell
(`csv.QUOTE_ALL`), so that a cell holding a separator stays one cell in a reader that splits on `;`.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["FORMULA_TRIGGERS", "spreadsheet_safe"]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

T = TypeVar("T")


def spreadsheet_safe(value: T) -> T | str:
    """`value`, with a single quote in front if it is text a spreadsheet would take for a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
