"""The pages' labels in English and Swedish (the tables: `en.py`, `sv.py`). A page asks
`labels(lang)` for the table, and `t.term(vocabulary, value)` for what a value of an event or of the
rules is called (`terms.py`). A key missing from a language falls back to English (a test holds both
tables to the same keys)."""

from __future__ import annotations

from services.dashboard.i18n.en import LABELS as _EN
from services.dashboard.i18n.sv import LABELS as _SV
from services.dashboard.terms import term

__all__ = ["LANGUAGES", "Labels", "choose_language", "labels"]

LANGUAGES = ("en", "sv")


class Labels(dict[str, str]):
    """One language's labels, and its terms for the values of events and rules."""

    def __init__(self, lang: str) -> None:
        super().__init__(_SV if lang == "sv" else _EN)
        self.lang = "sv" if lang == "sv" else "en"

    def __missing__(self, key: str) -> str:
        return _EN.get(key, key)

    def term(self, vocabulary: str, value: object) -> str:
        return term(self.lang, vocabulary, value)


def labels(lang: str) -> Labels:
    return Labels(lang)


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return str(cookie)
    first = (accept_language or "").split(",")[0].strip().lower()
    return "sv" if first.startswith("sv") else "en"
