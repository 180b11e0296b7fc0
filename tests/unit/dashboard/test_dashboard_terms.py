"""Every value of an event or of the rules that a page or the PDF brief shows has a term in English
and in Swedish, and the pages and the PDF show the term of the reader's language, never the raw value
(`probation_action`, `custom_notification`)."""

from __future__ import annotations

import importlib
import pkgutil
import re
import zlib
from enum import StrEnum
from types import ModuleType

import pytest

import services.contracts
import services.followthrough
from devtools.scenario import build_scenario
from services.audit.library.auditors import Role as AuditorRole
from services.contracts.access import Resource
from services.contracts.events import EVENT_TYPES
from services.contracts.protection import Basis, Outcome, RequestKind
from services.contracts.topics import Service
from services.dashboard import i18n
from services.dashboard.auth import Role
from services.dashboard.terms import ENUMERATIONS, TERMS, term
from tests.unit.dashboard.test_dashboard_http import Harness
from tests.unit.dashboard.test_dashboard_pages import visible_text
from tests.unit.domain import builders as b

NOT_SHOWN: dict[type[StrEnum], str] = {
    Service: "the intake services' names: topic owners, never shown to people",
    RequestKind: "data-protection records (`gvi-privacy`), not shown on the dashboard",
    Basis: "data-protection records (`gvi-privacy`), not shown on the dashboard",
    Outcome: "data-protection records (`gvi-privacy`), not shown on the dashboard",
}


def _modules(package: ModuleType) -> list[ModuleType]:
    return [package] + [importlib.import_module(m.name)
                        for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")]


def _enumerations() -> list[type[StrEnum]]:
    found: set[type[StrEnum]] = {Role, AuditorRole, Resource}   # the dashboard's and gvi-audit's, shown
    for package in (services.contracts, services.followthrough):
        for module in _modules(package):
            found |= {v for v in vars(module).values()
                      if isinstance(v, type) and issubclass(v, StrEnum) and v is not StrEnum
                      and v.__module__ == module.__name__}
    return sorted(found, key=lambda e: e.__qualname__)


ENUMS = _enumerations()


def test_the_enumerations_are_found() -> None:
    names = {e.__name__ for e in ENUMS}
    assert {"SanctionKind", "WarningChannel", "IncidentKind", "AlertKind", "CaseStatus", "GroupStatus",
            "Confidence", "SourceGrade", "RelationKind", "LinkRule", "ResolvedBy"} <= names


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.__name__)
def test_every_value_of_every_enumeration_has_a_term_in_english_and_swedish(enum: type[StrEnum]) -> None:
    if enum in NOT_SHOWN:
        return
    vocabularies = [name for name, values in ENUMERATIONS.items()
                    if values is enum or (isinstance(values, tuple) and enum in values)]
    assert vocabularies, f"{enum.__name__} has no vocabulary in services/dashboard/terms.py"
    for vocabulary in vocabularies:
        closed = ENUMERATIONS[vocabulary]
        every = {v.value for e in (closed if isinstance(closed, tuple) else (enum,)) for v in e}
        assert set(TERMS[vocabulary]) == every, vocabulary                    # none missing, none stale
        for value in enum:
            english, swedish = TERMS[vocabulary][value.value]
            assert english.strip() and swedish.strip(), (vocabulary, value)
            assert "_" not in english + swedish, (vocabulary, value)
            assert term("en", vocabulary, value) == english and term("sv", vocabulary, value) == swedish


def test_every_event_type_has_a_term_in_both_languages() -> None:
    assert set(TERMS["event_type"]) == set(EVENT_TYPES)
    assert all(en.strip() and sv.strip() for en, sv in TERMS["event_type"].values())


def test_every_vocabulary_has_a_term_in_both_languages_and_the_labels_the_same_keys() -> None:
    for vocabulary, terms in TERMS.items():
        assert terms and all(en.strip() and sv.strip() for en, sv in terms.values()), vocabulary
    assert set(i18n._EN) == set(i18n._SV), set(i18n._EN) ^ set(i18n._SV)


def test_a_free_text_value_without_a_term_is_shown_as_given() -> None:
    assert term("sv", "support_service", "driving licence") == "driving licence"
    assert term("sv", "support_service", "housing") == "boende"
    with pytest.raises(KeyError):
        term("sv", "no_such_vocabulary", "housing")


def test_every_value_the_demo_posts_that_pages_show_has_a_term() -> None:
    shown: dict[str, set[str]] = {"support_service": set(), "warning_channel": set(), "incident_kind": set(),
                                  "sanction_kind": set(), "agency": set()}
    for item in build_scenario():
        data, kind = item.event["data"], item.event["type"]
        shown["agency"].add(item.agency)
        if kind in ("gvi.support.offered.v1", "gvi.support.accepted.v1", "gvi.exit.milestone.v1",
                    "gvi.exit.milestone.v2") and "service" in data:
            shown["support_service"].add(data["service"])
        elif kind == "gvi.warning.delivered.v1":
            shown["warning_channel"].add(data["channel"])
        elif kind == "gvi.incident.reported.v1":
            shown["incident_kind"].add(data["kind"])
        elif kind == "gvi.sanction.recorded.v1":
            shown["sanction_kind"].add(data["kind"])
    for vocabulary, values in shown.items():
        assert values and values <= set(TERMS[vocabulary]), (vocabulary, values - set(TERMS[vocabulary]))


RAW = {v for terms in TERMS.values() for v in terms if re.search(r"[_.]", v)}
"""Raw values that no reader should meet: identifiers with `_` or `.` in them."""


def _swedish_pages(dash: Harness) -> dict[str, str]:
    dash.pipe.post(b.sanction("s8", 55, group="norra", kind="probation_action", source=b.PROBATION),
                   b.event("gvi.incident.reported.v1", "r8", 56, {
                       "incident_id": "i8", "kind": "explosion", "suspected_group_ids": ["norra"],
                       "victim_group_ids": [], "confirmed": True}))
    dash.login("analyst")
    dash.client.cookies.set("gvi_lang", "sv")
    return {path: dash.client.get(path).text
            for path in ("/", "/groups/norra", "/cases?status=all", "/alerts?include_withdrawn=true",
                         "/call-ins/ci-2/brief", "/call-ins", "/stats")}


def test_pages_in_swedish_show_swedish_terms_and_no_raw_value(dash: Harness) -> None:
    pages = {path: visible_text(html) for path, html in _swedish_pages(dash).items()}
    group, cases, brief = pages["/groups/norra"], pages["/cases?status=all"], pages["/call-ins/ci-2/brief"]
    assert "individuellt samtal" in group and "custom notification" not in group      # the warning
    assert "frivårdsåtgärd · Frivården" in group                                       # the sanction
    assert "sprängning" in cases and "skjutning" in cases and "väntar på sanktion" in cases
    assert "gripande · Polisen" in cases and "åtal · Åklagarmyndigheten" in cases
    assert "boende" in brief and "individuellt samtal" in brief and "åtal" in brief
    assert "Sanktioner utlösta" in pages["/alerts?include_withdrawn=true"]
    assert "Sprängningar" in pages["/stats"]
    assert "(analytiker)" in pages["/"]
    for path, text in pages.items():
        leaked = {raw for raw in RAW if re.search(rf"(?<![\w.-]){re.escape(raw)}(?![\w-])", text)}
        assert not leaked, (path, leaked)


def test_pages_in_english_show_english_terms(dash: Harness) -> None:
    dash.login("operator")
    group = visible_text(dash.client.get("/groups/norra").text)
    assert "custom notification" in group and "custom_notification" not in group
    assert "awaiting sanction" in visible_text(dash.client.get("/cases?status=all").text)


def _pdf_text(pdf: bytes) -> str:
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    content = b"".join(s if s.startswith(b"BT") else zlib.decompress(s) for s in streams)
    return re.sub(r"\\([()\\])", r"\1", content.decode("latin-1"))          # PDF string escapes


def test_the_pdf_brief_in_swedish_shows_swedish_terms(dash: Harness) -> None:
    dash.login("operator")
    dash.client.cookies.set("gvi_lang", "sv")
    text = _pdf_text(dash.client.get("/call-ins/ci-2/brief.pdf").content)
    for swedish in ("individuellt samtal", "skjutning", "åtal (Åklagarmyndigheten)", "boende", "sanktionerad",
                    "Underlag"):
        assert swedish in text, swedish
    assert not {raw for raw in RAW if raw in text}
    dash.client.cookies.set("gvi_lang", "en")
    english = _pdf_text(dash.client.get("/call-ins/ci-2/brief.pdf").content)
    assert "custom notification" in english and "prosecution (Prosecution Authority)" in english
