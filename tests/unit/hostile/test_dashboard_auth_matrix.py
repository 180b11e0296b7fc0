"""The hostile-input tier, part 2: the dashboard's authorisation matrix (issue 22).

Every route of the app (`app.routes`: pages, JSON API, documentation, health, metrics, static files),
for every caller (anonymous, the metrics scraper, and each role with its own session cookie for pages
or bearer token for `/api/`) and every filling of its path parameters (an id the fixture read model
holds, and one it does not). The expected status is computed here from two tables, never from running
the code:

- `ROUTES`: what each route asks for (`Access`) and what it answers when it is allowed. A route that
  the app has and `ROUTES` lacks fails the test: whoever adds a route says who may reach it.
- `GRANTS`: the role table of docs/security.md ("Roles"): what each role (and caller) holds. It is
  checked against `services.dashboard.auth.Role` and the development users file. `coordinator` is
  an operator who also enters data for the municipality, `police` an analyst who enters for the
  police (`enters_for` in the users file: the data-entry forms, those the development keys file
  offers the agency).

The rule: a caller who holds the route's access gets its answer (404 for an unknown id); otherwise
an anonymous caller is sent to the login page (pages: 303 to `/login?next=`) or gets 401 (`/api/`),
and a logged-in one gets 403, before the id is looked up (so a refusal never tells whether an id
exists). `/metrics` answers only its own token (401 for everyone else, roles included).
"""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from services.dashboard.auth import Role
from services.dashboard.context import PRELOGIN_COOKIE, SESSION_COOKIE, Dashboard
from tests.unit.hostile.apps import ENTRY_KEYS, USERS, bearer, dashboard_app, session


class Access(Enum):
    PUBLIC = "anyone, without login"
    LOGIN = "any logged-in role"
    PERSON_REFS = "roles that see person references"
    AUDIT = "roles that reach the audit pages"
    METRICS = "the metrics token (GVI_METRICS_TOKEN_FILE)"
    DATA_ENTRY = "users who enter data for an agency (enters_for)"
    MUNICIPALITY_FORMS = "users who enter data for the municipality (its forms in the keys file)"
    POLICE_FORMS = "users who enter data for the police (its forms in the keys file)"


GRANTS: dict[str, frozenset[Access]] = {
    "anonymous": frozenset(),
    "scraper": frozenset({Access.METRICS}),
    "operator": frozenset({Access.LOGIN}),
    "analyst": frozenset({Access.LOGIN, Access.PERSON_REFS}),
    "auditor": frozenset({Access.LOGIN, Access.AUDIT}),
    "coordinator": frozenset({Access.LOGIN, Access.DATA_ENTRY, Access.MUNICIPALITY_FORMS}),
    "police": frozenset({Access.LOGIN, Access.PERSON_REFS, Access.DATA_ENTRY, Access.POLICE_FORMS}),
}
USERS_OF: dict[str, tuple[str, str]] = {
    "operator": ("operator", "operator"), "analyst": ("analyst", "analyst"),
    "auditor": ("auditor", "auditor"), "coordinator": ("coordinator", "operator"),
    "police": ("police", "analyst"),
}
"""Each logged-in caller: (the development user, its role)."""
ROLES = {"operator", "analyst", "auditor"}
METRICS_TOKEN = "metrics-token-for-the-auth-matrix-0123456789"

Form = Callable[[Dashboard, str], tuple[dict[str, str], dict[str, str]]]
"""(the dashboard, the caller's session or "") -> (form fields, extra cookies)."""


def _login_form(dash: Dashboard, _: str) -> tuple[dict[str, str], dict[str, str]]:
    nonce = "prelogin-nonce-of-the-auth-matrix"
    return ({"username": "operator", "password": "dev-operator", "next": "/",
             "csrf_token": dash.signer.csrf("prelogin|" + nonce)}, {PRELOGIN_COOKIE: nonce})


def _logout_form(dash: Dashboard, session_token: str) -> tuple[dict[str, str], dict[str, str]]:
    return {"csrf_token": dash.signer.csrf(session_token)}, {}


def _token_form(_: Dashboard, __: str) -> tuple[dict[str, str], dict[str, str]]:
    return {"username": "operator", "password": "dev-operator"}, {}


def _entry_form(fields: dict[str, str]) -> Form:
    def form(dash: Dashboard, session_token: str) -> tuple[dict[str, str], dict[str, str]]:
        return {"csrf_token": dash.signer.csrf(session_token), "time": "2026-03-01T14:30",
                "event_id": str(uuid.uuid4()), **fields}, {}
    return form


@dataclass(frozen=True)
class Rule:
    access: Access
    ok: int = 200
    location: str | None = None
    """Where a 303 that is the route's own answer leads."""
    form: Form | None = None


DOCS = Rule(Access.PUBLIC)  # served in development only (docs/security.md, HTTP)
ROUTES: dict[tuple[str, str], Rule] = {
    ("GET", "/openapi.json"): DOCS, ("HEAD", "/openapi.json"): DOCS,
    ("GET", "/docs"): DOCS, ("HEAD", "/docs"): DOCS,
    ("GET", "/docs/oauth2-redirect"): DOCS, ("HEAD", "/docs/oauth2-redirect"): DOCS,
    ("GET", "/redoc"): DOCS, ("HEAD", "/redoc"): DOCS,
    ("POST", "/api/token"): Rule(Access.PUBLIC, form=_token_form),
    ("GET", "/api/me"): Rule(Access.LOGIN),
    ("GET", "/api/groups"): Rule(Access.LOGIN),
    ("GET", "/api/groups/{group_id}"): Rule(Access.LOGIN),
    ("GET", "/api/groups/{group_id}/people"): Rule(Access.PERSON_REFS),
    ("GET", "/api/cases"): Rule(Access.LOGIN),
    ("GET", "/api/alerts"): Rule(Access.LOGIN),
    ("GET", "/api/call-ins"): Rule(Access.LOGIN),
    ("GET", "/api/call-ins/{call_in_id}"): Rule(Access.LOGIN),
    ("GET", "/api/call-ins/{call_in_id}/people"): Rule(Access.PERSON_REFS),
    ("GET", "/api/call-ins/{call_in_id}/brief"): Rule(Access.LOGIN),
    ("GET", "/api/stats/yearly"): Rule(Access.LOGIN),
    ("GET", "/api/stats/monthly"): Rule(Access.LOGIN),
    ("GET", "/api/stats/follow-through"): Rule(Access.LOGIN),
    ("GET", "/api/areas"): Rule(Access.LOGIN),
    ("GET", "/api/group-audit"): Rule(Access.LOGIN),
    ("GET", "/api/group-audit/memberships"): Rule(Access.PERSON_REFS),
    ("GET", "/api/exit-programme"): Rule(Access.LOGIN),
    ("GET", "/api/exit-programme/people"): Rule(Access.PERSON_REFS),
    ("GET", "/api/audit"): Rule(Access.AUDIT),
    ("GET", "/api/audit/access-log"): Rule(Access.AUDIT),
    ("GET", "/api/stream"): Rule(Access.LOGIN),
    ("GET", "/login"): Rule(Access.PUBLIC),
    ("POST", "/login"): Rule(Access.PUBLIC, ok=303, location="/", form=_login_form),
    ("POST", "/logout"): Rule(Access.LOGIN, ok=303, location="/login", form=_logout_form),
    ("GET", "/language/{lang}"): Rule(Access.PUBLIC, ok=303, location="/"),
    ("GET", "/"): Rule(Access.LOGIN),
    ("GET", "/groups/{group_id}"): Rule(Access.LOGIN),
    ("GET", "/cases"): Rule(Access.LOGIN),
    ("GET", "/alerts"): Rule(Access.LOGIN),
    ("GET", "/stats"): Rule(Access.LOGIN),
    ("GET", "/call-ins"): Rule(Access.LOGIN),
    ("GET", "/call-ins/{call_in_id}"): Rule(Access.LOGIN),
    ("GET", "/call-ins/{call_in_id}/brief"): Rule(Access.LOGIN),
    ("GET", "/call-ins/{call_in_id}/brief.pdf"): Rule(Access.LOGIN),
    ("GET", "/group-audit"): Rule(Access.LOGIN),
    ("GET", "/exit-programme"): Rule(Access.LOGIN),
    ("GET", "/exit-programme/{group_id}"): Rule(Access.LOGIN),
    ("GET", "/audit"): Rule(Access.AUDIT),
    ("GET", "/enter"): Rule(Access.DATA_ENTRY),
    ("GET", "/enter/call-in-scheduled"): Rule(Access.MUNICIPALITY_FORMS),
    ("POST", "/enter/call-in-scheduled"): Rule(Access.MUNICIPALITY_FORMS, form=_entry_form(
        {"call_in_id": "ci-3", "scheduled_for": "2026-03-20T14:00", "location": "Rådhuset",
         "invited_group_ids": "norra"})),
    ("GET", "/enter/call-in"): Rule(Access.MUNICIPALITY_FORMS),
    ("POST", "/enter/call-in"): Rule(Access.MUNICIPALITY_FORMS, form=_entry_form(
        {"call_in_id": "ci-2", "attended": "norra mun:s-1"})),
    ("GET", "/enter/warning"): Rule(Access.MUNICIPALITY_FORMS),
    ("POST", "/enter/warning"): Rule(Access.MUNICIPALITY_FORMS, form=_entry_form(
        {"group_id": "norra", "channel": "home_visit"})),
    ("GET", "/enter/support"): Rule(Access.MUNICIPALITY_FORMS),
    ("POST", "/enter/support"): Rule(Access.MUNICIPALITY_FORMS, form=_entry_form(
        {"group_id": "norra", "service": "housing"})),
    ("GET", "/enter/support-accepted"): Rule(Access.MUNICIPALITY_FORMS),
    ("POST", "/enter/support-accepted"): Rule(Access.MUNICIPALITY_FORMS, form=_entry_form(
        {"group_id": "norra", "service": "housing"})),
    ("GET", "/enter/exit-milestone"): Rule(Access.MUNICIPALITY_FORMS),
    ("POST", "/enter/exit-milestone"): Rule(Access.MUNICIPALITY_FORMS, form=_entry_form(
        {"group_id": "norra", "person_ref": "mun:s-1", "service": "relocation"})),
    ("GET", "/enter/relation-ended"): Rule(Access.POLICE_FORMS),
    ("POST", "/enter/relation-ended"): Rule(Access.POLICE_FORMS, form=_entry_form(
        {"group_id": "norra", "other_group_id": "sodra"})),
    ("GET", "/enter/alert-triage"): Rule(Access.MUNICIPALITY_FORMS),
    ("POST", "/enter/alert-triage"): Rule(Access.MUNICIPALITY_FORMS, form=_entry_form(
        {"alert_id": "a1", "action": "acknowledged"})),
    ("GET", "/enter/retraction"): Rule(Access.DATA_ENTRY),
    ("POST", "/enter/retraction"): Rule(Access.DATA_ENTRY, form=_entry_form(
        {"retracted_event_id": "7d2ad9a4-0c61-4f6c-9d4a-6a1f0f1c0b11", "reason": "entered in error"})),
    ("GET", "/public/stats"): Rule(Access.PUBLIC),
    ("GET", "/public/stats.csv"): Rule(Access.PUBLIC),
    ("GET", "/static/{path}"): Rule(Access.PUBLIC),
    ("GET", "/healthz"): Rule(Access.PUBLIC),
    ("GET", "/readyz"): Rule(Access.PUBLIC),
    ("GET", "/metrics"): Rule(Access.METRICS),
}

PARAMETERS: dict[str, tuple[tuple[str, bool], ...]] = {
    "group_id": (("norra", True), ("no-such-group", False)),
    "call_in_id": (("ci-2", True), ("no-such-call-in", False)),
    "lang": (("sv", True),),
    "path": (("app.css", True), ("no-such-file.css", False)),
}
"""Values for each path parameter: (value, whether the fixture read model or the app holds it)."""


def app_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route the app serves, those of included routers with their
    prefix (`iter_route_contexts`); a mount as `<prefix>/{path}`."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, Mount):
            yield "GET", f"{context.path}/{{path}}"
        elif isinstance(context.original_route, APIRoute | Route) and context.path:
            for method in sorted(context.methods or ()):
                yield method, context.path
        else:
            raise AssertionError(f"a route of a kind this matrix does not know: {context.route!r}")


def fillings(template: str) -> Iterator[tuple[str, bool]]:
    """The template with each parameter filled in: every held value, and each value held by nobody."""
    names = [part[1:-1].split(":")[0] for part in template.split("/") if part.startswith("{")]
    if not names:
        yield template, True
        return
    for name in names:
        assert name in PARAMETERS, f"path parameter {name!r} of {template} has no values in PARAMETERS"
    combos: list[tuple[str, bool]] = [(template, True)]
    for name in names:
        combos = [(path.replace(f"{{{name}}}", value), held and known)
                  for path, held in combos for value, known in PARAMETERS[name]]
    yield from combos


SERVED = sorted(set(app_routes(dashboard_app())))
CASES = [pytest.param(method, template, path, known, caller,
                      id=f"{caller}-{method} {path}")
         for method, template in SERVED for path, known in fillings(template) for caller in GRANTS]


def expected(rule: Rule, caller: str, *, api: bool, known: bool) -> tuple[int, str | None]:
    """(status, where a 303 leads or None) from the tables above."""
    grants = GRANTS[caller]
    if rule.access is Access.PUBLIC or rule.access in grants:
        return (rule.ok, rule.location) if known else (404, None)
    if rule.access is Access.METRICS:
        return 401, None
    if Access.LOGIN not in grants:
        return (401, None) if api else (303, "/login?next=")
    return 403, None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, TestClient]]:
    token_file = tmp_path_factory.mktemp("metrics") / "token"
    token_file.write_text(METRICS_TOKEN)
    app = dashboard_app(GVI_METRICS_TOKEN_FILE=token_file)
    with TestClient(app, follow_redirects=False) as client:
        yield app, client


def test_the_role_table_names_every_role_and_development_user() -> None:
    users = {u["name"]: u for u in tomllib.loads(Path(USERS).read_text())["user"]}
    assert set(GRANTS) - {"anonymous", "scraper"} == set(USERS_OF)
    assert {role for _, role in USERS_OF.values()} == ROLES == {r.value for r in Role} == {
        u["role"] for u in users.values()}
    assert all(Access.LOGIN in GRANTS[caller] for caller in USERS_OF)
    for caller, (user, role) in USERS_OF.items():
        assert users[user]["role"] == role
        assert (Access.DATA_ENTRY in GRANTS[caller]) == ("enters_for" in users[user]), caller


def test_the_forms_table_is_the_development_keys_files() -> None:
    """Each form's route asks for the access of exactly the agencies the keys file offers it to."""
    offered = {a["name"]: set(a["forms"]) for a in tomllib.loads(ENTRY_KEYS.read_text())["agency"]}
    users = {u["name"]: u for u in tomllib.loads(Path(USERS).read_text())["user"]}
    for caller, (user, _) in USERS_OF.items():
        agency = users[user].get("enters_for")
        for (method, path), rule in ROUTES.items():
            if method == "GET" and path.startswith("/enter/"):
                reaches = Access.DATA_ENTRY in GRANTS[caller] and rule.access in GRANTS[caller]
                assert reaches == (agency is not None and path.removeprefix("/enter/") in offered[agency]), (
                    caller, path)


def test_every_route_in_the_table_is_served() -> None:
    assert not set(ROUTES) - set(SERVED), "ROUTES names routes the app no longer has"


@pytest.mark.parametrize(("method", "template", "path", "known", "caller"), CASES)
def test_who_reaches_each_route(served: tuple[FastAPI, TestClient], method: str, template: str, path: str,
                                known: bool, caller: str) -> None:
    rule = ROUTES.get((method, template))
    assert rule is not None, (f"{method} {template} is served but has no entry in ROUTES: say which "
                              f"Access it asks for")
    app, client = served
    api = path.startswith("/api/")
    status, location = expected(rule, caller, api=api, known=known)

    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    session_token = ""
    if caller == "scraper":
        headers["authorization"] = f"Bearer {METRICS_TOKEN}"
    elif caller in USERS_OF:
        user, role = USERS_OF[caller]
        if api:
            headers["authorization"] = f"Bearer {bearer(app, user, role)}"
        else:
            session_token = session(app, user, role)
            cookies[SESSION_COOKIE] = session_token
    request: dict[str, Any] = {"headers": headers}
    if rule.form is not None:
        data, extra = rule.form(app.state.dashboard, session_token)
        request["data"] = data
        cookies.update(extra)

    client.cookies.clear()
    client.cookies.update(cookies)
    try:
        answer = client.request(method, path, **request)
    finally:
        client.cookies.clear()

    assert answer.status_code == status, (
        f"{caller} {method} {path}: expected {status} ({rule.access.value}), got {answer.status_code}: "
        f"{answer.text[:300]}")
    if status == 303:
        assert location is not None and answer.headers["location"].startswith(location), (
            f"{caller} {method} {path}: redirected to {answer.headers['location']}, expected {location}")
        if location == "/login?next=":
            assert answer.headers["location"] != "/login"
