"""Every page, in Swedish and in English, with data that reaches every part of it: no raw value of the
contract reaches a reader where a term exists (issue 21: "Raw values such as `probation_action` and
`custom_notification` print as they are in pages, PDFs and the Swedish interface").

The raw values are those of every enumeration of the event contract (`services/contracts/events/`),
the rules' alert kinds, case and group statuses, link rules, the roles (the dashboard's and
`gvi-audit`'s), the access log's resources and the event types. A page fails if one of them appears
as a word in what a reader sees (text, and the `title`, `alt`, `aria-label` and `placeholder`
attributes), unless the reader's term for it is that very word (an English "shooting"). Both
languages also fail on any snake_case word (the English pages have no other raw value to leak), and
the Swedish pages on an English term where the Swedish one differs ("custom notification").

The call-in brief's PDF is read as text the same way, and its attendance summary is checked: the
counts per group once the call-in is held, never a person reference.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from enum import StrEnum
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import services.contracts.events as events
from services.audit.library import verify
from services.audit.library.access import export_entry
from services.audit.library.auditors import Auditor
from services.audit.library.auditors import Role as AuditorRole
from services.contracts.access import AccessEntry, Resource
from services.contracts.alerts import AlertKind
from services.contracts.group_state import CaseStatus, GroupStatus, LinkRule, ResolvedBy
from services.dashboard.app import Adapters, create_app
from services.dashboard.auth import Role
from services.dashboard.ports import FixedAuditTrail, MemoryAccessLog
from services.dashboard.posting import IntakeReply
from services.dashboard.readmodel.model import CaseFilter
from services.dashboard.settings import DashboardSettings
from services.dashboard.terms import TERMS, term
from tests.unit.dashboard.pipeline import Pipeline
from tests.unit.dashboard.test_dashboard_audit_pages import FAILED
from tests.unit.dashboard.test_dashboard_brief import PEOPLE, scenario_events
from tests.unit.dashboard.test_dashboard_http import USERS, Clock, Harness
from tests.unit.dashboard.test_dashboard_terms import _pdf_text
from tests.unit.domain import builders as b

KEYS = Path("deploy/config/data-entry-keys.dev.toml")
NAMES = {"operator": "maria", "analyst": "eva", "auditor": "ulf", "coordinator": "coordinator",
         "civil": "civil", "police": "per"}
"""The development users renamed: the dev file names three users after their roles, which would read
as raw roles on every page (`operator (operatör)`), and one after its agency (`police`)."""


def _contract_enumerations() -> list[type[StrEnum]]:
    found = [v for v in vars(events).values() if isinstance(v, type) and issubclass(v, StrEnum)
             and v.__module__.startswith(f"{events.__name__}.")]
    return [*found, AlertKind, CaseStatus, GroupStatus, LinkRule, ResolvedBy, Role, AuditorRole, Resource]


ENUMERATIONS = _contract_enumerations()
RAW: frozenset[str] = frozenset({v.value for e in ENUMERATIONS for v in e} | set(events.EVENT_TYPES)
                                | set(TERMS["agency"]))
"""Every raw value a reader must not meet (the agencies' names too: `civil-society`)."""


def _vocabularies(value: str) -> list[str]:
    return [name for name, terms in TERMS.items() if value in terms]


def _word(value: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.:-]){re.escape(value)}(?![\w-]|\.\w)")


def _own_term(lang: str, value: str) -> bool:
    """The reader's term for `value` is (or holds) the value itself: it cannot be told apart."""
    return any(_word(value.lower()).search(term(lang, vocabulary, value).lower())
               for vocabulary in _vocabularies(value))


SNAKE = re.compile(r"(?<![\w.:/-])[a-z]+(?:_[a-z0-9]+)+(?![\w-])")


def leaks(text: str, lang: str) -> set[str]:
    """What in `text` is a raw value, a snake_case word, or (Swedish) an English term."""
    found = {raw for raw in RAW if not _own_term(lang, raw) and _word(raw).search(text)}
    found |= set(SNAKE.findall(text))
    if lang == "sv":
        for vocabulary, terms in TERMS.items():
            for value, (english, swedish) in terms.items():
                if english.lower() != swedish.lower() and len(english) > 3 and \
                        _word(english.lower()).search(text.lower()) and not _word(english.lower()).search(
                            swedish.lower()):
                    found.add(f"{vocabulary}:{value} in English ({english!r})")
    return found


FREE_TEXT = ("Seen with group members at three documented occasions; group audit 2024-01.",)
"""Free text as an agency entered it (a membership's evidence): shown as given, in its own words."""


class _Shown(HTMLParser):
    """What a reader sees in the page's language: text, and the attributes read out or shown on
    hover; not what is marked as another language (`lang="en"`: the language link, an error's
    detail), which is not meant to be in the reader's."""

    SHOWN_ATTRIBUTES = ("title", "alt", "aria-label", "placeholder")
    VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                      "track", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.page_lang = ""
        self.foreign: list[str] = []   # the open elements from the first one in another language

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "html":
            self.page_lang = found.get("lang") or ""
            return
        if tag in self.VOID:
            if not self.foreign:
                self.parts.extend(v for n, v in attrs if n in self.SHOWN_ATTRIBUTES and v)
            return
        if self.foreign or found.get("lang", self.page_lang) != self.page_lang:
            self.foreign.append(tag)
            return
        self.parts.extend(v for n, v in attrs if n in self.SHOWN_ATTRIBUTES and v)

    def handle_endtag(self, tag: str) -> None:
        if self.foreign and self.foreign[-1] == tag:
            self.foreign.pop()

    def handle_data(self, data: str) -> None:
        if not self.foreign:
            self.parts.append(data)


def shown(html: str) -> str:
    parser = _Shown()
    parser.feed(html)
    text = " ".join(" ".join(parser.parts).split())
    for free in FREE_TEXT:
        text = text.replace(free, "")
    return text


class FakeIntake:
    """Accepts every entry with a receipt (the data-entry receipt page is a page too)."""

    def __init__(self) -> None:
        self.posted: list[Mapping[str, Any]] = []

    async def post(self, service: str, key: str, event: Mapping[str, Any]) -> IntakeReply:
        self.posted.append(event)
        return IntakeReply(202, {"id": event["id"], "type": event["type"], "source": event["source"],
                                 "topic": "notifications", "partition": 0, "offset": 7,
                                 "recordedtime": "2026-03-01T13:30:00Z"})

    async def close(self) -> None:
        return None


def more_events() -> list[Any]:
    """Beside the brief's scenario: an explosion and a probation action (the issue's two examples), a
    relation, a sanction that matches no group, and ci-2 held with attendance in both groups, one of
    its no-shows on probation (an alert to probation), and violence by a group never warned."""
    return [
        b.relation("rel1", "norra", "sodra", 2, kind="conflict"),
        b.relation("rel2", "norra", "vastra", 3, kind="alliance"),
        b.event("gvi.incident.reported.v1", "r8", 56, {
            "incident_id": "i8", "kind": "explosion", "suspected_group_ids": ["norra"],
            "victim_group_ids": [], "confirmed": True}),
        b.sanction("s8", 57, group="norra", kind="probation_action", source=b.PROBATION),
        b.sanction("s9", 58, person="pol:p-unknown", kind="asset_seizure"),
        b.warning("w5", "sodra", 59, channel="letter"),
        b.sanction("s10", 40, person=PEOPLE[3], kind="probation_action", source=b.PROBATION),
        b.registered("g3", "vastra", "Västra"),
        b.incident("r11", "i11", 62, ["vastra"], victims=["sodra"]),
        b.held("h2", "ci-2", 61, attended=[(PEOPLE[0], "norra"), (PEOPLE[1], "norra")],
               no_shows=[(PEOPLE[3], "sodra"), (PEOPLE[2], "norra")]),
    ]


def access_entries(clock: Clock) -> list[AccessEntry]:
    """One entry of every resource, by every way, and a `gvi-audit export` by an auditor who sees
    personal data (its role and its count of person references were shown raw, or not at all)."""
    ways = ("web", "api", "pdf")
    found = [AccessEntry(access_id=f"a-{i}", time=clock.now, user="eva", role=Role.ANALYST.value,
                         resource=resource, resource_id="norra", person_refs_shown=False, via=ways[i % 3])
             for i, resource in enumerate(Resource)]
    found.append(export_entry(Auditor("dpo", AuditorRole.AUDITOR_PERSONAL_DATA), person_refs=1234,
                              time=clock.now, access_id="a-export"))
    found.append(export_entry(Auditor("internal-control", AuditorRole.AUDITOR), person_refs=99,
                              time=clock.now, access_id="a-export-2"))
    return found


def _users(directory: Path) -> Path:
    text = USERS.read_text(encoding="utf-8")
    for user, name in NAMES.items():
        text = text.replace(f'name = "{user}"', f'name = "{name}"')
    path = directory / "users.toml"
    path.write_text(text, encoding="utf-8")
    return path


INTAKE = FakeIntake()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Harness]:
    access = MemoryAccessLog()
    clock = Clock()

    async def ready() -> bool:
        return True

    settings = DashboardSettings(GVI_ENV="development", GVI_USERS_FILE=_users(tmp_path),
                                 GVI_DATA_ENTRY_KEYS_FILE=KEYS)
    audit = FixedAuditTrail()
    audit.current = FAILED
    app = create_app(settings, adapters=Adapters(access_log=access, ready=ready, audit=audit,
                                                 intake=INTAKE), clock=clock)
    INTAKE.posted.clear()
    pipe = Pipeline(applier=app.state.applier)
    with TestClient(app) as client:
        pipe.post(*scenario_events(), *more_events())
        for entry in access_entries(clock):
            pipe.applier.apply("access-log", None, entry.to_json(), 0)
        yield Harness(client, access, clock, pipe, audit)


def _login(site: Harness, user: str) -> None:
    """Log in as the development user `user` (by its new name, with its development password)."""
    site.client.cookies.clear()
    site.login(NAMES[user], f"dev-{user}")


def _token(site: Harness) -> dict[str, str]:
    answer = site.client.post("/api/token", data={"username": NAMES["operator"], "password": "dev-operator"})
    assert answer.status_code == 200, answer.text
    return {"authorization": f"Bearer {answer.json()['access_token']}"}


def _pages(site: Harness, lang: str) -> dict[str, str]:
    """Every page as each kind of user sees it, as the reader's text; the PDFs as their text."""
    got: dict[str, str] = {}

    def get(path: str, status: int = 200) -> None:
        site.client.cookies.set("gvi_lang", lang)
        answer = site.client.get(path)
        assert answer.status_code == status, (path, answer.status_code)
        if path.endswith(".pdf"):
            got[path] = _pdf_text(answer.content)
        elif path.startswith("/public/stats.csv"):
            got[path] = answer.content.decode("utf-8-sig")
        else:
            got[path] = shown(answer.text)

    get("/login")
    get(f"/public/stats?lang={lang}")
    get(f"/public/stats?lang={lang}&granularity=month")
    get(f"/public/stats.csv?lang={lang}")
    for user in ("operator", "analyst"):
        _login(site, user)
        for path in ("/", "/groups/norra", "/groups/sodra", "/alerts?include_withdrawn=true", "/alerts",
                     "/stats", "/stats?granularity=month", "/call-ins", "/call-ins/ci-1", "/call-ins/ci-2",
                     "/call-ins/ci-1/brief", "/call-ins/ci-2/brief", "/call-ins/ci-1/brief.pdf",
                     "/call-ins/ci-2/brief.pdf", "/group-audit", "/group-audit?group=norra",
                     *(f"/cases?status={choice}" for choice in CaseFilter.CHOICES)):
            get(path)
            got[f"{user} {path}"] = got.pop(path)
        get("/groups/nobody", 404)
        get("/audit", 403)
    _login(site, "auditor")
    get("/audit")
    for user in ("coordinator", "civil", "police"):
        _login(site, user)
        get("/enter")
        forms = re.findall(r'href="/enter/([\w-]+)"', site.client.get("/enter").text)
        assert forms
        for form in forms:
            get(f"/enter/{form}")
            got[f"{user} /enter/{form}"] = got.pop(f"/enter/{form}")
        got[f"{user} /enter"] = got.pop("/enter")
    _login(site, "coordinator")
    site.client.cookies.set("gvi_lang", lang)
    page = site.client.get("/enter/warning").text
    hidden = dict(re.findall(r'name="(csrf_token|event_id)" value="([^"]+)"', page))
    done = site.client.post("/enter/warning", data={**hidden, "time": "2026-03-01T14:30", "group_id": "norra",
                                                    "channel": "custom_notification"})
    assert done.status_code == 200 and 'id="receipt"' in done.text, shown(done.text)
    got["receipt"] = shown(done.text)
    refused = site.client.post("/enter/warning", data={**hidden, "time": "", "group_id": "norra",
                                                       "channel": "home_visit"})
    assert refused.status_code == 422
    got["refused entry"] = shown(refused.text)
    return got


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_no_page_and_no_pdf_shows_a_raw_value(site: Harness, lang: str) -> None:
    pages = _pages(site, lang)
    problems = {path: found for path, text in pages.items() if (found := leaks(text, lang))}
    assert not problems, "\n".join(f"{path}: {sorted(found)}" for path, found in problems.items())


def test_the_detector_finds_what_it_is_for() -> None:
    assert leaks("frivårdsåtgärd probation_action", "sv") == {"probation_action"}
    assert leaks("Sanktion: custom notification", "sv") == {
        "warning_channel:custom_notification in English ('custom notification')"}
    assert leaks("granskare auditor-personal-data", "sv") == {"auditor-personal-data"}
    assert leaks("a shooting, then an arrest", "en") == set()                # the English terms themselves
    assert leaks("en shooting", "sv") == {"shooting", "incident_kind:shooting in English ('shooting')"}
    assert leaks("read gvi.incident.reported.v1 via api", "en") == {"gvi.incident.reported.v1"}
    assert leaks("ci-2 grp-norra-42 kvv:k-1029 pol:p-unknown", "sv") == set()  # ids are not values


def test_swedish_pages_use_the_partnerships_terms(site: Harness) -> None:
    pages = _pages(site, "sv")
    cases = pages["analyst /cases?status=all"]
    assert "sprängning" in cases and "skjutning" in cases
    assert "frivårdsåtgärd · Frivården" in pages["analyst /groups/norra"]
    assert "Sprängningar" in pages["analyst /stats"] and "Sprängningar" in pages["/public/stats?lang=sv"]
    assert "åtal (Åklagarmyndigheten)" in pages["operator /call-ins/ci-2/brief.pdf"]
    audit = pages["/audit"]
    assert "granskare med åtkomst till personuppgifter" in audit
    assert "ja (1234 unika personreferenser i exporten)" in audit
    assert "nej (99 unika personreferenser i exporten)" in audit and "ogiltig signatur" in audit
    assert "konflikt" in pages["analyst /group-audit"] and "allians" in pages["analyst /group-audit"]
    assert "beslag av tillgångar" in pages["analyst /group-audit"]
    assert "Civilsamhället" in pages["civil /enter"]
    site.client.cookies.clear()
    listed = site.client.get("/api/alerts?include_withdrawn=true", headers=_token(site)).json()
    kinds = {a["kind"] for a in listed}
    assert "no_show_on_probation" in kinds and len(kinds) >= 3, kinds
    for kind in kinds:
        assert term("sv", "alert_kind", kind) in pages["analyst /alerts?include_withdrawn=true"], kind
    assert "Larm till Frivården" in pages["analyst /call-ins/ci-2"]
    english = _pages(site, "en")["/audit"]
    assert "auditor with access to personal data" in english
    assert "yes (1234 distinct person references in the export)" in english


def test_the_brief_summarises_attendance_per_group_once_held_and_names_nobody(site: Harness) -> None:
    for lang, line in (("sv", "Närvaro vid detta call-in: närvarande {}, uteblivna {}"),
                       ("en", "Attendance at this call-in: attended {}, no-shows {}")):
        pages = _pages(site, lang)
        for user in ("operator", "analyst"):
            for suffix in ("", ".pdf"):
                held = pages[f"{user} /call-ins/ci-2/brief{suffix}"]
                assert line.format(2, 1) in held and line.format(0, 1) in held, (lang, user, suffix, held)
                assert not [p for p in (*PEOPLE, "pol:p-unknown") if p in held]
                first = pages[f"{user} /call-ins/ci-1/brief{suffix}"]
                assert line.format(1, 0) in first and line.format(0, 1) in first, first
    site.client.cookies.clear()
    brief = site.client.get("/api/call-ins/ci-2/brief", headers=_token(site)).json()
    assert [(g["group_id"], g["attended"], g["no_shows"]) for g in brief["groups"]] == [
        ("norra", 2, 1), ("sodra", 0, 1)]
    assert not [p for p in PEOPLE if p in str(brief)]


def test_the_brief_of_a_call_in_not_yet_held_has_no_attendance(site: Harness) -> None:
    site.pipe.post(b.scheduled("c3", "ci-3", 65, ["norra"]))
    site.clock.now += timedelta(days=1)
    _login(site, "operator")
    for lang in ("sv", "en"):
        site.client.cookies.set("gvi_lang", lang)
        page = shown(site.client.get("/call-ins/ci-3/brief").text)
        pdf = _pdf_text(site.client.get("/call-ins/ci-3/brief.pdf").content)
        for text in (page, pdf):
            assert "Närvaro vid detta call-in" not in text and "Attendance at this call-in" not in text


@pytest.mark.parametrize(("lang", "typed", "posted"), [
    ("sv", "boende", "housing"), ("sv", "Flytt till annan ort", "relocation"), ("en", "housing", "housing"),
    ("sv", "housing", "housing"), ("sv", "körkort", "körkort")])
def test_a_service_typed_as_the_swedish_form_suggests_it_is_posted_as_its_value(
        site: Harness, lang: str, typed: str, posted: str) -> None:
    _login(site, "coordinator")
    site.client.cookies.set("gvi_lang", lang)
    page = site.client.get("/enter/support").text
    assert f'<option value="{term(lang, "support_service", "housing")}">' in page      # what is suggested
    hidden = dict(re.findall(r'name="(csrf_token|event_id)" value="([^"]+)"', page))
    answer = site.client.post("/enter/support", data={**hidden, "time": "2026-03-01T14:30",
                                                      "group_id": "norra", "service": typed})
    assert answer.status_code == 200, shown(answer.text)
    assert [e["data"]["service"] for e in INTAKE.posted] == [posted]


def test_every_problem_gvi_audit_verify_can_report_has_a_term() -> None:
    source = Path(verify.__file__).read_text(encoding="utf-8")
    kinds = set(re.findall(r'Problem\(\s*"([a-z_]+)"', source))
    assert {"bad_signature", "unknown_key", "missing"} <= kinds
    assert kinds == set(TERMS["problem_kind"]), kinds ^ set(TERMS["problem_kind"])
