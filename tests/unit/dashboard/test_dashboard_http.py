"""The dashboard over HTTP with its fakes (no broker): login, sessions, tokens, roles, CSRF, the access
log, the pages and the brief. The read model is fed the processor's real record format."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.dashboard.app import Adapters, create_app
from services.dashboard.auth import ConfigError, load_users
from services.dashboard.ports import FixedAuditTrail, MemoryAccessLog
from services.dashboard.settings import DashboardSettings
from tests.unit.dashboard.pipeline import Pipeline
from tests.unit.dashboard.test_dashboard_brief import PEOPLE, scenario_events
from tests.unit.domain import builders as b

USERS = Path("deploy/config/users.dev.toml")
PASSWORDS = {"operator": "dev-operator", "analyst": "dev-analyst", "auditor": "dev-auditor"}


class Clock:
    def __init__(self) -> None:
        self.now = b.at(70)

    def __call__(self) -> datetime:
        return self.now


class Harness:
    def __init__(self, client: TestClient, access: MemoryAccessLog, clock: Clock, pipe: Pipeline,
                 audit: FixedAuditTrail) -> None:
        self.client, self.access, self.clock, self.pipe, self.audit = client, access, clock, pipe, audit
        self.ready = True

    def login(self, user: str, password: str | None = None) -> TestClient:
        page = self.client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        answer = self.client.post("/login", data={"username": user, "password": password or PASSWORDS[user],
                                                  "csrf_token": csrf.group(1), "next": "/"},
                                  follow_redirects=False)
        assert answer.status_code == 303, answer.text
        return self.client

    def token(self, user: str) -> dict[str, str]:
        answer = self.client.post("/api/token", data={"username": user, "password": PASSWORDS[user]})
        assert answer.status_code == 200, answer.text
        assert answer.json()["token_type"] == "bearer"
        return {"authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
def dash() -> Iterator[Harness]:
    access = MemoryAccessLog()
    clock = Clock()
    holder: list[Harness] = []

    async def ready() -> bool:
        return holder[0].ready

    settings = DashboardSettings(GVI_ENV="development", GVI_USERS_FILE=USERS)
    audit = FixedAuditTrail()
    app = create_app(settings, adapters=Adapters(access_log=access, ready=ready, audit=audit), clock=clock)
    pipe = Pipeline(applier=app.state.applier)
    with TestClient(app) as client:
        harness = Harness(client, access, clock, pipe, audit)
        holder.append(harness)
        pipe.post(*scenario_events())
        yield harness


def test_scripts_need_a_token_and_a_wrong_password_gets_none(dash: Harness) -> None:
    answer = dash.client.get("/api/groups")
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    wrong = {"username": "operator", "password": "nope"}
    assert dash.client.post("/api/token", data=wrong).status_code == 401
    assert dash.client.post("/api/token", data={"username": "nobody", "password": "x"}).status_code == 401
    assert dash.client.get("/api/groups", headers={"authorization": "Bearer forged.token"}).status_code == 401
    assert dash.client.get("/api/me", headers=dash.token("analyst")).json() == {"user": "analyst",
                                                                                "role": "analyst"}
    groups = dash.client.get("/api/groups", headers=dash.token("operator"))
    assert groups.status_code == 200
    [norra] = [g for g in groups.json() if g["group_id"] == "norra"]
    assert norra["name"] == "Norra gänget" and norra["status"] == "sanctioned"


def test_an_expired_token_and_an_expired_session_are_refused(dash: Harness) -> None:
    headers = dash.token("operator")
    dash.login("operator")
    assert dash.client.get("/").status_code == 200
    dash.clock.now += timedelta(minutes=61)
    assert dash.client.get("/api/groups", headers=headers).status_code == 401
    assert dash.client.get("/").status_code == 200                     # the session lasts 8 hours
    dash.clock.now += timedelta(hours=8)
    page = dash.client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert dash.client.get("/api/groups").status_code == 401


def test_a_session_cookie_is_not_a_bearer_token(dash: Harness) -> None:
    dash.login("operator")
    session = dash.client.cookies.get("gvi_session")
    dash.client.cookies.clear()
    assert dash.client.get("/api/groups", headers={"authorization": f"Bearer {session}"}).status_code == 401


def test_login_refuses_a_form_without_its_csrf_token(dash: Harness) -> None:
    dash.client.get("/login")
    answer = dash.client.post("/login", data={"username": "operator", "password": "dev-operator",
                                              "csrf_token": "forged", "next": "/"}, follow_redirects=False)
    assert answer.status_code == 403 and "gvi_session" not in dash.client.cookies
    wrong = dash.client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', wrong.text)
    assert csrf is not None
    refused = dash.client.post("/login", data={"username": "operator", "password": "wrong-password",
                                               "csrf_token": csrf.group(1)})
    assert refused.status_code == 401 and "gvi_session" not in dash.client.cookies


def test_logout_needs_the_sessions_csrf_token(dash: Harness) -> None:
    dash.login("operator")
    assert dash.client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    page = dash.client.get("/")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    answer = dash.client.post("/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert answer.status_code == 303 and "gvi_session" not in dash.client.cookies


def test_a_session_is_void_after_logout_even_where_its_cookie_was_kept(dash: Harness) -> None:
    bearer = dash.token("operator")
    dash.login("operator")
    session = dash.client.cookies.get("gvi_session")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', dash.client.get("/").text)
    assert session is not None and csrf is not None
    assert dash.client.post("/logout", data={"csrf_token": csrf.group(1)}).status_code == 200
    dash.client.cookies.set("gvi_session", session)             # a copy taken before the logout
    page = dash.client.get("/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert dash.client.get("/api/me").status_code == 401
    dash.client.cookies.clear()
    assert dash.client.get("/api/me", headers=bearer).status_code == 200   # other credentials live on
    dash.login("operator")
    assert dash.client.get("/api/me").json()["user"] == "operator"       # and so does a new session


def test_a_logout_at_one_replica_voids_the_session_at_the_others_through_the_access_log() -> None:
    """Two replicas behind one Service share the session secret: a cookie issued by one works at the
    other. A logout is written to the access log, which every replica reads, so the copy of the
    cookie is refused everywhere, not only where the user logged out."""
    access, clock = MemoryAccessLog(), Clock()

    async def ready() -> bool:
        return True

    settings = DashboardSettings(GVI_ENV="development", GVI_USERS_FILE=USERS,
                                 GVI_SESSION_SECRET="a-secret-both-replicas-share-0123456789")
    replicas = [create_app(settings, adapters=Adapters(access_log=access, ready=ready,
                                                       audit=FixedAuditTrail()), clock=clock)
                for _ in range(2)]
    with TestClient(replicas[0]) as first, TestClient(replicas[1]) as second:
        harness = Harness(first, access, clock, Pipeline(applier=replicas[0].state.applier),
                          FixedAuditTrail())
        harness.login("operator")
        session = first.cookies.get("gvi_session")
        assert session is not None
        second.cookies.set("gvi_session", session)
        assert second.get("/api/me").status_code == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', first.get("/").text)
        assert csrf is not None
        logout = first.post("/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
        assert logout.status_code == 303
        [entry] = [e for e in access.entries if e.resource == "session"]
        assert entry.user == "operator" and entry.person_refs_shown is False
        assert session not in entry.to_json().decode()  # the session's id, never the cookie itself
        for replica in replicas:  # what each replica's feed reads from the access-log topic
            replica.state.applier.apply("access-log", None, entry.to_json(), int(clock().timestamp() * 1000))
        assert second.get("/api/me").status_code == 401
        first.cookies.set("gvi_session", session)
        assert first.get("/api/me").status_code == 401


def test_a_logout_that_cannot_be_recorded_is_refused_with_503_and_can_be_retried(dash: Harness) -> None:
    """Unrecorded, a logout would void the session at one replica only; so it is refused whole and
    the session stays valid everywhere until a retry is recorded."""
    dash.login("operator")
    session = dash.client.cookies.get("gvi_session")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', dash.client.get("/").text)
    assert session is not None and csrf is not None
    dash.access.fail = True
    answer = dash.client.post("/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert answer.status_code == 503 and "log out again" in answer.text
    assert dash.client.get("/api/me").status_code == 200  # still logged in: nothing was half done
    dash.access.fail = False
    retried = dash.client.post("/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    assert retried.status_code == 303
    assert [e.resource for e in dash.access.entries].count("session") == 1
    dash.client.cookies.set("gvi_session", session)
    assert dash.client.get("/api/me").status_code == 401


def test_person_level_answers_are_never_stored_by_a_cache(dash: Harness) -> None:
    analyst = dash.token("analyst")
    for path in ("/api/groups/norra/people", "/api/groups/norra", "/api/call-ins/ci-2/brief"):
        answer = dash.client.get(path, headers=analyst)
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store", path
    auditor = dash.token("auditor")
    answer = dash.client.get("/api/audit/access-log", headers=auditor)
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    dash.login("analyst")
    for path in ("/groups/norra", "/call-ins/ci-2/brief", "/call-ins/ci-2/brief.pdf"):
        answer = dash.client.get(path)
        assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store", path


def test_an_operator_never_sees_person_references_and_an_analyst_does_logged(dash: Harness) -> None:
    operator = dash.token("operator")
    assert dash.client.get("/api/groups/norra/people", headers=operator).status_code == 403
    detail = dash.client.get("/api/groups/norra", headers=operator)
    assert detail.status_code == 200
    assert detail.content == dash.pipe.ledger.derived().groups["norra"].to_json()   # the state exactly
    dash.login("operator")
    page = dash.client.get("/groups/norra")
    assert page.status_code == 200 and "Norra" in page.text
    assert not [p for p in PEOPLE if p in page.text + detail.text]
    dash.client.cookies.clear()

    analyst = dash.token("analyst")
    people = dash.client.get("/api/groups/norra/people", headers=analyst)
    assert people.status_code == 200 and PEOPLE[0] in people.text and PEOPLE[2] in people.text
    dash.login("analyst")
    assert PEOPLE[0] in dash.client.get("/groups/norra").text

    logged = [(e.user, e.resource.value, e.resource_id, e.person_refs_shown, e.via)
              for e in dash.access.entries]
    assert logged == [("operator", "group", "norra", False, "api"),
                      ("operator", "group", "norra", False, "web"),
                      ("analyst", "group_people", "norra", True, "api"),
                      ("analyst", "group_people", "norra", True, "web")]
    assert not [p for p in PEOPLE if p in "".join(e.to_json().decode() for e in dash.access.entries)]


def test_a_read_that_cannot_be_logged_is_refused(dash: Harness) -> None:
    dash.access.fail = True
    headers = dash.token("analyst")
    for path in ("/api/groups/norra", "/api/groups/norra/people", "/api/call-ins/ci-2/brief"):
        answer = dash.client.get(path, headers=headers)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5", path
        assert "Norra" not in answer.text and PEOPLE[0] not in answer.text
    assert dash.client.get("/api/groups", headers=headers).status_code == 200   # the board holds no details


def test_the_brief_as_json_html_and_pdf_has_no_person_reference(dash: Harness) -> None:
    headers = dash.token("analyst")               # even for a role that may see them elsewhere
    brief = dash.client.get("/api/call-ins/ci-2/brief", headers=headers)
    assert brief.status_code == 200 and brief.json()["groups"][0]["name"] == "Norra gänget"
    dash.login("analyst")
    page = dash.client.get("/call-ins/ci-2/brief")
    pdf = dash.client.get("/call-ins/ci-2/brief.pdf")
    assert page.status_code == 200 and "Norra" in page.text and "/static/app.css" in page.text
    assert "@media print" in dash.client.get("/static/app.css").text
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == (
        "application/pdf")
    for text in (brief.text, page.text, pdf.content.decode("latin-1")):
        assert not [p for p in PEOPLE if p in text]
    assert dash.client.get("/api/call-ins/nope/brief", headers=headers).status_code == 404
    assert [e.via for e in dash.access.entries] == ["api", "web", "pdf"]


def test_pages_render_for_every_role_and_audit_pages_only_for_auditors(dash: Harness) -> None:
    dash.login("operator")
    for path in ("/", "/cases?status=all", "/alerts?include_withdrawn=true", "/stats",
                 "/stats?granularity=month", "/call-ins", "/?fragment=1"):
        assert dash.client.get(path).status_code == 200, path
    assert dash.client.get("/audit").status_code == 403
    assert dash.client.get("/cases?status=bogus").status_code == 422
    assert dash.client.get("/stats?from=2024-02-01&to=2024-01-01").status_code == 422
    dash.client.cookies.clear()
    dash.login("auditor")
    dash.client.get("/groups/norra")
    dash.pipe.applier.apply("access-log", None, dash.access.entries[-1].to_json(), 0)
    audit = dash.client.get("/audit")
    assert audit.status_code == 200 and "auditor" in audit.text and "norra" in audit.text


def test_cases_and_alerts_for_scripts(dash: Harness) -> None:
    headers = dash.token("operator")
    dash.pipe.post(b.warning("w9", "vastra", 1), b.incident("r9", "i9", 40, ["vastra"]))
    stalled = dash.client.get("/api/cases?status=stalled", headers=headers).json()
    assert [(c["group_id"], c["incident_id"], c["stalled"], c["days_since_incident"]) for c in stalled] == [
        ("vastra", "i9", True, 30.0)]
    bad = dash.client.get("/api/cases?status=late", headers=headers)
    assert bad.status_code == 422 and "stalled" in bad.json()["detail"]
    alerts = dash.client.get("/api/alerts", headers=headers).json()
    assert {(a["kind"], a["group_id"], a["incident_id"]) for a in alerts} >= {
        ("enforcement_triggered", "vastra", "i9"), ("enforcement_triggered", "norra", "i2")}
    yearly = dash.client.get("/api/stats/yearly", headers=headers)
    assert yearly.status_code == 200 and yearly.json()[0]["year"] == 2024
    assert dash.client.get("/api/stats/yearly?from=not-a-date", headers=headers).status_code == 422
    follow = dash.client.get("/api/stats/follow-through", headers=headers).json()
    assert follow["total"]["cases"] == 3


def test_readiness_follows_the_catch_up(dash: Harness) -> None:
    assert dash.client.get("/readyz").status_code == 200
    dash.ready = False
    assert dash.client.get("/readyz").status_code == 503
    assert dash.client.get("/healthz").status_code == 200
    assert "gvi_dashboard_groups" in dash.client.get("/metrics").text


def test_development_users_are_refused_outside_development_mode(tmp_path: Path) -> None:
    settings = DashboardSettings(GVI_USERS_FILE=USERS)
    assert settings.env == "production"
    with pytest.raises(ConfigError, match="development"):
        create_app(settings, adapters=Adapters(access_log=MemoryAccessLog(), ready=_never))
    # a file that does not say it is for development, but reuses a development password
    text = USERS.read_text().replace("development_only = true", "")
    copy = tmp_path / "users.toml"
    copy.write_text(text)
    assert not load_users(copy).development_only
    with pytest.raises(ConfigError, match="development"):
        create_app(DashboardSettings(GVI_USERS_FILE=copy),
                   adapters=Adapters(access_log=MemoryAccessLog(), ready=_never))


async def _never() -> bool:
    return False


def test_every_answer_carries_the_security_headers(dash: Harness) -> None:
    headers = dash.token("operator")
    for path in ("/login", "/api/groups", "/static/app.css", "/healthz", "/api/nope"):
        answer = dash.client.get(path, headers=headers)
        assert answer.headers["content-security-policy"].startswith("default-src 'self'"), path
        assert answer.headers["x-frame-options"] == "DENY" and answer.headers["x-content-type-options"] == (
            "nosniff"), path
        assert len(answer.headers.get_list("x-frame-options")) == 1, path
