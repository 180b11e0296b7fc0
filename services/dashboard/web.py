"""The pages for people: server-rendered HTML (Jinja2, autoescaped), no external resource, the live
script and stylesheet served by the app itself. Routes only; the views come from the read model.

Forms that change something (log in, log out) carry a CSRF token bound to the pre-login nonce or to
the session (`TokenSigner.csrf`), and the cookies are `HttpOnly`, `SameSite=Strict`. A page asked for
with `?fragment=1` returns only its content, which the live script swaps in when the stream reports
a change. Group details and briefs are never refreshed behind the reader's back (each read is
access-logged): they say that there is news and offer a reload.

Templates render with `StrictUndefined`: a name a route did not pass is an error, never an empty
value (a table that iterated over a misnamed list once said "Nothing to show." for a group with cases).
(No `from __future__ import annotations` here: FastAPI reads the route annotations.)
"""

import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from services.audit.library import AuditSnapshot
from services.contracts.access import Resource
from services.dashboard.api import authenticate_password
from services.dashboard.auth import Principal
from services.dashboard.chart import violence_chart
from services.dashboard.context import PRELOGIN_COOKIE, SESSION_COOKIE, Dashboard, LoginRequired, NotFound
from services.dashboard.forms import time_value
from services.dashboard.i18n import LANGUAGES, choose_language, labels
from services.dashboard.login import LoginRefused
from services.dashboard.pdf import brief_pdf
from services.dashboard.ports import AuditTrailUnavailable
from services.dashboard.queries import area_lookup, audit_of, exit_of, group_names, prep_of, stats_filter
from services.dashboard.readmodel.brief import call_in_brief
from services.dashboard.readmodel.exit_programme import OUTCOMES
from services.dashboard.readmodel.model import CaseFilter, agency_of
from services.dashboard.readmodel.stats import (
    STOCKHOLM,
    Granularity,
    follow_through,
    follow_through_total,
    violence_table,
)

__all__ = ["Pages", "web_router"]

TEMPLATES = Path(__file__).parent / "templates"
ALERTS_SHOWN = 500
"""The alerts page shows the newest this many and says how many there are (`GET /api/alerts` has all)."""


def _day(value: datetime | None) -> str:
    return value.astimezone(STOCKHOLM).strftime("%Y-%m-%d") if value is not None else "-"


def _when(value: datetime | None) -> str:
    return value.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def _clock(value: datetime | None) -> str:
    return value.astimezone(STOCKHOLM).strftime("%H:%M") if value is not None else "-"


def _safe_next(target: str | None) -> str:
    """Only a local path: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _nobody(user: Principal) -> bool:
    return False


@dataclass
class Pages:
    router: APIRouter
    dash: Dashboard
    env: Environment
    may_triage: Callable[[Principal], bool] = _nobody
    """Whether the alerts page offers the user the triage buttons (set by the app from the data-entry
    keys: `entry.triage_allowed`)."""

    def lang(self, request: Request) -> str:
        return choose_language(request.cookies.get("gvi_lang"), request.headers.get("accept-language"))

    def cookie(self, response: Response, name: str, value: str, max_age: int | None = None) -> None:
        """Set a cookie as the pages set every one: `HttpOnly`, `SameSite=Strict`, whole site."""
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                            secure=self.dash.settings.secure_cookies, path="/")

    def render(self, request: Request, template: str, *, user: Principal | None, page: str,
               status: int = 200, headers: Mapping[str, str] | None = None, **data: Any) -> HTMLResponse:
        lang = self.lang(request)
        session = request.cookies.get(SESSION_COOKIE, "")
        context = {"t": labels(lang), "lang": lang, "other_lang": "en" if lang == "sv" else "sv",
                   "user": user, "page": page, "csrf": self.dash.signer.csrf(session) if user else "",
                   "path": request.url.path, "stale_since": self.dash.feed_stale_since(), **data}
        compiled = self.env.get_template(template)
        if request.query_params.get("fragment") == "1" and "content" in compiled.blocks:
            body = "".join(compiled.blocks["content"](compiled.new_context(context)))
        else:
            body = compiled.render(context)
        response = HTMLResponse(body, status_code=status, headers=dict(headers or {}))
        response.headers["Cache-Control"] = "no-store"
        return response

    def error(self, request: Request, status: int, message: str,
              headers: Mapping[str, str] | None = None) -> HTMLResponse:
        try:
            user: Principal | None = self.dash.principal(request)
        except LoginRequired:
            user = None
        return self.render(request, "error.html", user=user, page="error", status=status, headers=headers,
                           status_code=status, message=message)


def web_router(dash: Dashboard) -> Pages:
    """The pages, area by area on one router; `Pages` is what they share (the data-entry forms and
    the public statistics render with its templates too)."""
    router = APIRouter(include_in_schema=False)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    env.filters["day"] = _day
    env.filters["when"] = _when
    env.filters["clock"] = _clock
    env.filters["agency"] = agency_of
    pages = Pages(router, dash, env)
    for add_pages in (_session, _groups, _exit_programme, _cases_and_alerts, _stats, _call_ins, _audit):
        add_pages(pages)
    return pages


def _session(pages: Pages) -> None:
    """Log in, log out, and the language."""
    router, dash = pages.router, pages.dash

    @router.get("/login")
    async def login_page(request: Request, next: str | None = None) -> Response:
        nonce = request.cookies.get(PRELOGIN_COOKIE) or secrets.token_urlsafe(24)
        response = pages.render(request, "login.html", user=None, page="login", next=_safe_next(next),
                                login_csrf=dash.signer.csrf("prelogin|" + nonce), failed=False, refused=None)
        pages.cookie(response, PRELOGIN_COOKIE, nonce, max_age=3600)
        return response

    @router.post("/login")
    async def login(request: Request, username: Annotated[str, Form(max_length=200)],
                    password: Annotated[str, Form(max_length=1000)],
                    csrf_token: Annotated[str, Form(max_length=200)],
                    next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
        nonce = request.cookies.get(PRELOGIN_COOKIE, "")
        if not nonce or not secrets.compare_digest(csrf_token, dash.signer.csrf("prelogin|" + nonce)):
            return pages.error(request, 403, "the form has expired or did not come from this site; "
                                             "open the login page again")
        try:
            found = await authenticate_password(dash, request, username, password)
        except LoginRefused as exc:
            return pages.render(request, "login.html", user=None, page="login", status=exc.status,
                                headers={"Retry-After": str(exc.retry_after)}, next=_safe_next(next),
                                login_csrf=csrf_token, failed=False, refused=exc)
        if found is None:
            return pages.render(request, "login.html", user=None, page="login", status=401,
                                next=_safe_next(next), login_csrf=csrf_token, failed=True, refused=None)
        response = RedirectResponse(_safe_next(next), status_code=303)
        pages.cookie(response, SESSION_COOKIE, dash.session_token(found),
                     max_age=dash.settings.session_minutes * 60)
        response.delete_cookie(PRELOGIN_COOKIE, path="/")
        return response

    @router.post("/logout")
    async def logout(request: Request, csrf_token: Annotated[str, Form(max_length=200)]) -> Response:
        principal = dash.principal(request)
        session = request.cookies.get(SESSION_COOKIE, "")
        if not secrets.compare_digest(csrf_token, dash.signer.csrf(session)):
            return pages.error(request, 403, "the form did not come from this site; log out from the page")
        await dash.end_session(principal, session, via="web")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/language/{lang}")
    async def language(lang: str, next: str | None = None) -> Response:
        response = RedirectResponse(_safe_next(next), status_code=303)
        if lang in LANGUAGES:
            pages.cookie(response, "gvi_lang", lang, max_age=365 * 24 * 3600)
        return response


def _groups(pages: Pages) -> None:
    """The board, a group's page and the group audit."""
    router, dash = pages.router, pages.dash

    @router.get("/")
    async def board(request: Request) -> Response:
        user = dash.principal(request)
        return pages.render(request, "board.html", user=user, page="board",
                            groups=dash.model.summaries(dash.clock()),
                            open_alerts=dash.model.open_alert_counts())

    @router.get("/groups/{group_id}")
    async def group(request: Request, group_id: str) -> Response:
        user = dash.principal(request)
        state = dash.model.group(group_id)
        if state is None:
            raise NotFound(f"no group {group_id!r} has a state")
        people = user.role.sees_person_refs
        await dash.log_access(user, Resource.GROUP_PEOPLE if people else Resource.GROUP, group_id,
                              person_refs_shown=people, via="web")
        sources, reveal = dash.model.sources, dash.reveal()
        return pages.render(
            request, "group.html", user=user, page="board", state=state,
            summary=dash.model.summary(state, dash.clock()),
            rows=dash.model.case_rows(dash.clock(), "all", [group_id]),
            warnings_to_people=reveal.warnings(sources.warnings_to_people(group_id)) if people else [],
            support=reveal.support(sources.support(group_id)) if people else [])

    @router.get("/group-audit")
    async def audit_groups(request: Request,
                           group: Annotated[str | None, Query(max_length=128)] = None) -> Response:
        """Every role sees member counts, relations and the sanctions that matched no group; a role
        that may see person references also the memberships with evidence (access-logged first)."""
        user = dash.principal(request)
        people = user.role.sees_person_refs
        if people:
            await dash.log_access(user, Resource.GROUP_AUDIT, group or "all", person_refs_shown=True,
                                  via="web")
        found = audit_of(dash, people=people, group_id=group)
        return pages.render(request, "group_audit.html", user=user, page="group_audit", audit=found,
                            names=group_names(dash), group=group or "",
                            last_day=found.expiring_until - timedelta(days=1))


def _exit_programme(pages: Pages) -> None:
    """The exit programme, overall and per group."""
    router, dash = pages.router, pages.dash

    async def _exit_page(request: Request, group_id: str | None) -> Response:
        """Every role sees the counts per group; a role that may see person references also a row per
        person (either read access-logged first)."""
        user = dash.principal(request)
        people = user.role.sees_person_refs
        found = exit_of(dash, people=people, group_id=group_id)
        if found is None:
            raise NotFound(f"no group {group_id!r} is known")
        await dash.log_access(user, Resource.EXIT_PROGRAMME_PEOPLE if people else Resource.EXIT_PROGRAMME,
                              group_id or "all", person_refs_shown=people, via="web")
        return pages.render(request, "exit_programme.html", user=user, page="exit_programme",
                            programme=found, outcomes=OUTCOMES)

    @router.get("/exit-programme")
    async def exit_overall(request: Request) -> Response:
        return await _exit_page(request, None)

    @router.get("/exit-programme/{group_id}")
    async def exit_group(request: Request, group_id: str) -> Response:
        return await _exit_page(request, group_id)


def _cases_and_alerts(pages: Pages) -> None:
    """The cases and the alerts."""
    router, dash = pages.router, pages.dash

    @router.get("/cases")
    async def cases(request: Request, status: Annotated[str, Query(max_length=40)] = "open") -> Response:
        user = dash.principal(request)
        if status not in CaseFilter.CHOICES:
            return pages.error(request, 422, f"status must be one of {', '.join(CaseFilter.CHOICES)}")
        return pages.render(request, "cases.html", user=user, page="cases", chosen=status,
                            choices=CaseFilter.CHOICES, rows=dash.model.case_rows(dash.clock(), status),
                            stall_days=dash.settings.stall_days)

    @router.get("/alerts")
    async def alerts(request: Request, include_withdrawn: bool = False, open_only: bool = False) -> Response:
        user = dash.principal(request)
        names = {g: s.name for g, s in dash.model.groups().items()}
        listed = dash.model.alerts(include_withdrawn=include_withdrawn, open_only=open_only)
        shown = listed[:ALERTS_SHOWN]
        triage = {a.alert_id: found for a in shown
                  if (found := dash.model.sources.triage(a.alert_id)) is not None}
        # A triage button posts the triage form itself, with an event id of its own: the page sent
        # again (a double click, a reload of the answer) is recorded once.
        buttons = {a.alert_id: str(uuid.uuid4()) for a in shown if a.active} if pages.may_triage(user) else {}
        return pages.render(request, "alerts.html", user=user, page="alerts", names=names,
                            include_withdrawn=include_withdrawn, open_only=open_only, alerts=shown,
                            total=len(listed), triage=triage, buttons=buttons,
                            now=time_value(dash.clock()))


def _stats(pages: Pages) -> None:
    """The statistics page: the published table, its chart, follow-through."""
    router, dash = pages.router, pages.dash

    @router.get("/stats")
    async def stats(request: Request, area: Annotated[str | None, Query(max_length=200)] = None,
                    start: Annotated[date | None, Query(alias="from")] = None,
                    end: Annotated[date | None, Query(alias="to")] = None,
                    granularity: Granularity = Granularity.YEAR) -> Response:
        user = dash.principal(request)
        try:
            where = stats_filter(area, start, end)
        except ValueError as exc:
            return pages.error(request, 422, str(exc))
        t = labels(pages.lang(request))
        rows = violence_table(dash.model.sources.incidents(), granularity=granularity, where=where)
        chart = violence_chart(rows, title=t["chart_title"], series_labels=dict(t))
        area_of = area_lookup(dash)
        return pages.render(
            request, "stats.html", user=user, page="stats", rows=rows, chart=Markup(chart),  # noqa: S704
            follow=follow_through(dash.model.cases(), area_of, granularity=granularity, where=where),
            total=follow_through_total(dash.model.cases(), area_of, where=where),
            areas=dash.model.sources.areas(), area=area or "", start=start, end=end, granularity=granularity)


def _call_ins(pages: Pages) -> None:
    """Call-ins: the list, a call-in's preparation and attendance, its brief (page and PDF)."""
    router, dash = pages.router, pages.dash

    @router.get("/call-ins")
    async def call_ins(request: Request) -> Response:
        user = dash.principal(request)
        earliest = datetime.min.replace(tzinfo=STOCKHOLM)
        listed = sorted(dash.model.sources.call_ins(), reverse=True,
                        key=lambda c: c.held_time or c.scheduled_for or earliest)
        return pages.render(request, "call_ins.html", user=user, page="call_ins", call_ins=listed)

    @router.get("/call-ins/{call_in_id}")
    async def call_in(request: Request, call_in_id: str) -> Response:
        """Every role sees the invited groups and the counts; a role that may see person references
        also who is invited or summoned, on probation, and came (access-logged first)."""
        user = dash.principal(request)
        people = user.role.sees_person_refs
        found = prep_of(dash, call_in_id, people=people)
        if found is None:
            raise NotFound(f"no call-in {call_in_id!r} was scheduled or held")
        await dash.log_access(user, Resource.CALL_IN_PEOPLE if people else Resource.CALL_IN, call_in_id,
                              person_refs_shown=people, via="web")
        return pages.render(request, "call_in.html", user=user, page="call_ins", prep=found)

    @router.get("/call-ins/{call_in_id}/brief")
    async def brief(request: Request, call_in_id: str) -> Response:
        user = dash.principal(request)
        found = call_in_brief(dash.model, call_in_id)
        if found is None:
            raise NotFound(f"no call-in {call_in_id!r} was scheduled or held")
        await dash.log_access(user, Resource.CALL_IN_BRIEF, call_in_id, person_refs_shown=False, via="web")
        return pages.render(request, "brief.html", user=user, page="call_ins", brief=found)

    @router.get("/call-ins/{call_in_id}/brief.pdf")
    async def brief_as_pdf(request: Request, call_in_id: str) -> Response:
        user = dash.principal(request)
        found = call_in_brief(dash.model, call_in_id)
        if found is None:
            raise NotFound(f"no call-in {call_in_id!r} was scheduled or held")
        await dash.log_access(user, Resource.CALL_IN_BRIEF, call_in_id, person_refs_shown=False, via="pdf")
        body = brief_pdf(found, labels(pages.lang(request)))
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in call_in_id)
        return Response(body, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="brief-{safe}.pdf"',
                                 "Cache-Control": "no-store"})


def _audit(pages: Pages) -> None:
    """The auditors' page."""
    router, dash = pages.router, pages.dash

    @router.get("/audit")
    async def audit(request: Request, by: Annotated[str | None, Query(alias="user", max_length=200)] = None,
                    resource_id: Annotated[str | None, Query(max_length=200)] = None) -> Response:
        """The auditors' page: the last verification, the checkpoints per partition (every signature
        checked against the auditors' keys) and the access log. 503 when the trail cannot be read;
        the access log (already in memory) is shown all the same."""
        user = dash.principal(request)
        dash.require(user, lambda r: r.reaches_audit_pages, "the audit pages")
        snapshot: AuditSnapshot | None = None
        trouble = ""
        try:
            snapshot = await dash.audit.snapshot()
        except AuditTrailUnavailable as exc:
            trouble = str(exc)
        return pages.render(request, "audit.html", user=user, page="audit", status=503 if trouble else 200,
                            headers={"Retry-After": "5"} if trouble else None,
                            snapshot=snapshot, trouble=trouble, by=by or "", resource_id=resource_id or "",
                            entries=dash.access_view.latest(500, user=by or None,
                                                            resource_id=resource_id or None),
                            total=dash.access_view.total)
