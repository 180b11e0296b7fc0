"""The JSON API for scripts (and the pages' live stream): routes only, every rule is elsewhere.

Authentication: `POST /api/token` (OAuth2 password flow, form fields `username`, `password`) gives a
bearer token; a browser's session cookie works too. (No `from __future__ import annotations` here:
FastAPI reads the route annotations.)
"""

import json
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import OAuth2PasswordRequestForm
from starlette.types import Scope

from services.contracts.access import Resource
from services.dashboard.audit import snapshot_document
from services.dashboard.auth import Principal
from services.dashboard.context import Dashboard, LoginRequired, NotFound
from services.dashboard.live import sse_message
from services.dashboard.login import LoginRefused, client_address
from services.dashboard.queries import area_lookup, audit_of, exit_of, group_names, prep_of, stats_filter
from services.dashboard.readmodel.brief import call_in_brief
from services.dashboard.readmodel.group_audit import audit_document
from services.dashboard.readmodel.model import CaseFilter
from services.dashboard.readmodel.stats import (
    Granularity,
    follow_through,
    follow_through_total,
    violence_table,
)

__all__ = ["api_router", "authenticate_password", "board_answer", "board_fast_path", "refusal"]


def _json(body: Any, status: int = 200) -> Response:
    return Response(body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode(),
                    status_code=status, media_type="application/json")


def _private(body: Any) -> Response:
    """An answer no cache may keep: a group's detail, person-level data, a brief, the audit trail."""
    response = _json(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match (weak comparison): `*` or any listed tag equal to `etag`."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def board_answer(dash: Dashboard, request: Request) -> Response:
    """`GET /api/groups` for an authenticated caller: the board as kept by the read model (the same
    bytes for every role), with its ETag; 304 when the caller has it already."""
    body, etag = dash.board(dash.clock())
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def board_fast_path(dash: Dashboard) -> Callable[[Scope], Response | None]:
    """`GET /api/groups` answered without FastAPI's routing and dependency resolution (the board
    is what every open page and polling script asks for most): the same authentication and the same
    answer as the route, or None for a request that is not authenticated, which the app then
    refuses as the route would (401 with its reason)."""
    def answer(scope: Scope) -> Response | None:
        request = Request(scope)
        try:
            dash.principal(request)
        except LoginRequired:
            return None
        return board_answer(dash, request)
    return answer


async def authenticate_password(dash: Dashboard, request: Request, username: str,
                                password: str) -> Principal | None:
    """Check a password through the login gate (`login.py`); raises LoginRefused when it may not be
    checked now."""
    address = client_address(request.client.host if request.client else None)
    return await dash.login.check(address, username, password)


def refusal(exc: LoginRefused) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=exc.status,
                        headers={"Retry-After": str(exc.retry_after)})


async def who(request: Request) -> Principal:
    """The caller of a JSON route (every one but `POST /api/token`): by bearer token or session
    cookie, else 401. The dashboard is the one `create_app` keeps in `app.state`."""
    # async: FastAPI would run a plain function in a worker thread, a thread hop per request
    dash: Dashboard = request.app.state.dashboard
    return dash.principal(request)


User = Annotated[Principal, Depends(who)]
Area = Annotated[str | None, Query(max_length=200, description="Only incidents in this area")]
From = Annotated[date | None, Query(alias="from", description="First Stockholm date included")]
To = Annotated[date | None, Query(alias="to", description="First Stockholm date excluded")]
GroupFilter = Annotated[str | None, Query(alias="group", max_length=128,
                                          description="Only this group's memberships and relations")]
Audited = Annotated[str | None, Query(max_length=200)]


def api_router(dash: Dashboard) -> APIRouter:
    """The JSON API under `/api`, area by area (in this order in the OpenAPI)."""
    # Every route but /api/token asks for a session or a bearer token; the OpenAPI says so, so that
    # generic API tools (and the hostile-input tier's schemathesis run) know the 401.
    router = APIRouter(prefix="/api", responses={401: {"description": "No valid session or bearer token "
                                                                      "(POST /api/token)"}})
    for add_routes in (_account, _groups, _group_audit, _exit_programme, _cases_and_alerts, _call_ins,
                       _stats, _audit_trail, _live):
        add_routes(router, dash)
    return router


def _account(router: APIRouter, dash: Dashboard) -> None:
    """A bearer token for scripts, and whom it belongs to."""

    @router.post("/token", summary="OAuth2 password flow: a bearer token for scripts",
                 responses={401: {"description": "Wrong user name or password"},
                            429: {"description": "Too many failed logins from this address: see Retry-After"},
                            503: {"description": "Too many logins under way: see Retry-After"}})
    async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request) -> JSONResponse:
        try:
            found = await authenticate_password(dash, request, form.username, form.password)
        except LoginRefused as exc:
            return refusal(exc)
        if found is None:
            return JSONResponse({"detail": "wrong user name or password"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return JSONResponse({"access_token": dash.bearer_token(found), "token_type": "bearer",
                             "expires_in": dash.settings.token_minutes * 60})

    @router.get("/me", summary="Who the token or session belongs to, and the role")
    async def me(user: User) -> JSONResponse:
        return JSONResponse({"user": user.name, "role": user.role.value})


def _groups(router: APIRouter, dash: Dashboard) -> None:
    """The board, a group's state and its person-level data."""

    @router.get("/groups", summary="Every group's board line",
                responses={304: {"description": "Unchanged since the answer of that ETag"}})
    async def groups(_: User, request: Request) -> Response:
        return board_answer(dash, request)

    @router.get("/groups/{group_id}", summary="A group's state, exactly as the processor defines it",
                responses={404: {"description": "No such group"}, 503: {"description": "Access log down"}})
    async def group(group_id: str, user: User) -> Response:
        state = dash.model.group(group_id)
        if state is None:
            raise NotFound(f"no group {group_id!r} has a state")
        await dash.log_access(user, Resource.GROUP, group_id, person_refs_shown=False, via="api")
        return _private(state.to_json())

    @router.get("/groups/{group_id}/people", summary="Person-level data of a group (analysts only)",
                responses={403: {"description": "Not an analyst"}, 404: {"description": "No such group"}})
    async def people(group_id: str, user: User) -> Response:
        dash.require(user, lambda r: r.sees_person_refs, "person references")
        if dash.model.group(group_id) is None:
            raise NotFound(f"no group {group_id!r} has a state")
        await dash.log_access(user, Resource.GROUP_PEOPLE, group_id, person_refs_shown=True, via="api")
        sources, reveal = dash.model.sources, dash.reveal()
        return _private({
            "group_id": group_id,
            "warnings": [{"event_id": w.event_id, "time": w.time.isoformat(), "channel": w.channel,
                          "person_ref": w.person_ref or None, "erased": w.erased}
                         for w in reveal.warnings(sources.warnings_to_people(group_id))],
            "support": [{"service": s.service, "time": s.time.isoformat(), "accepted": s.accepted,
                         "person_ref": s.person_ref or None, "erased": s.erased}
                        for s in reveal.support(sources.support(group_id))]})


def _group_audit(router: APIRouter, dash: Dashboard) -> None:
    """The group audit: group level for every role, memberships for those who see people."""

    @router.get("/group-audit", summary="The group audit, group level: member counts, relations, "
                                        "sanctions that matched no group")
    async def audit_groups(_: User, group_id: GroupFilter = None) -> Response:
        found = audit_of(dash, people=False, group_id=group_id)
        return _private(audit_document(found, group_names(dash)))

    @router.get("/group-audit/memberships",
                summary="The group audit with memberships: person references, evidence, source grade, "
                        "expiry (analysts only)",
                responses={403: {"description": "Not a role that may see person references"},
                           503: {"description": "Access log down"}})
    async def audit_people(user: User, group_id: GroupFilter = None) -> Response:
        dash.require(user, lambda r: r.sees_person_refs, "person references")
        await dash.log_access(user, Resource.GROUP_AUDIT, group_id or "all", person_refs_shown=True,
                              via="api")
        return _private(audit_document(audit_of(dash, people=True, group_id=group_id), group_names(dash)))


def _exit_programme(router: APIRouter, dash: Dashboard) -> None:
    """The exit programme: counts for every role, a row per person for those who see people."""

    @router.get("/exit-programme", summary="The exit programme, group level: support offers, uptake, "
                                           "milestones and outcomes (counts) per group and in total",
                responses={404: {"description": "No such group"}, 503: {"description": "Access log down"}})
    async def exit_groups(user: User, group_id: GroupFilter = None) -> Response:
        found = exit_of(dash, people=False, group_id=group_id)
        if found is None:
            raise NotFound(f"no group {group_id!r} is known")
        await dash.log_access(user, Resource.EXIT_PROGRAMME, group_id or "all", person_refs_shown=False,
                              via="api")
        return _private(found.model_dump_json().encode())

    @router.get("/exit-programme/people",
                summary="The exit programme with a row per person: services offered and accepted, "
                        "milestones, outcomes (roles that see person references)",
                responses={403: {"description": "Not a role that may see person references"},
                           404: {"description": "No such group"}, 503: {"description": "Access log down"}})
    async def exit_people(user: User, group_id: GroupFilter = None) -> Response:
        dash.require(user, lambda r: r.sees_person_refs, "person references")
        found = exit_of(dash, people=True, group_id=group_id)
        if found is None:
            raise NotFound(f"no group {group_id!r} is known")
        await dash.log_access(user, Resource.EXIT_PROGRAMME_PEOPLE, group_id or "all", person_refs_shown=True,
                              via="api")
        return _private(found.model_dump_json().encode())


def _cases_and_alerts(router: APIRouter, dash: Dashboard) -> None:
    """Cases and alerts, as the read model lists them."""

    @router.get("/cases", summary="Cases, open ones longest-waiting first")
    async def cases(_: User, status: Annotated[str, Query(
            description=f"one of {', '.join(CaseFilter.CHOICES)}")] = "all") -> Response:
        if status not in CaseFilter.CHOICES:
            return _json({"detail": f"status must be one of {', '.join(CaseFilter.CHOICES)}"}, 422)
        rows = dash.model.case_rows(dash.clock(), status)
        return _json([r.model_dump(mode="json") for r in rows])

    @router.get("/alerts", summary="Alerts, newest first, each with its triage (null while new)")
    async def alerts(_: User, include_withdrawn: bool = False, open_only: bool = False) -> Response:
        def triage(alert_id: str) -> dict[str, Any] | None:
            found = dash.model.sources.triage(alert_id)
            return None if found is None else {
                "state": found.state.value, "time": found.time.isoformat(), "agency": found.agency,
                "assignee": found.assignee, "note": found.note}
        return _json([{**a.model_dump(mode="json"), "triage": triage(a.alert_id)}
                      for a in dash.model.alerts(include_withdrawn=include_withdrawn, open_only=open_only)])


def _call_ins(router: APIRouter, dash: Dashboard) -> None:
    """Call-ins: the list, a call-in's preparation and attendance, its brief."""

    @router.get("/call-ins", summary="Every call-in known")
    async def call_ins(_: User) -> Response:
        return _json([{"call_in_id": c.call_in_id, "location": c.location,
                       "scheduled_for": c.scheduled_for.isoformat() if c.scheduled_for else None,
                       "held_time": c.held_time.isoformat() if c.held_time else None,
                       "invited_group_ids": sorted(c.invited)} for c in dash.model.sources.call_ins()])

    @router.get("/call-ins/{call_in_id}", summary="A call-in's preparation and attendance, group level: "
                                                  "invited groups, members and no-shows on probation "
                                                  "(counts)",
                responses={404: {"description": "No such call-in"}, 503: {"description": "Access log down"}})
    async def call_in(call_in_id: str, user: User) -> Response:
        found = prep_of(dash, call_in_id, people=False)
        if found is None:
            raise NotFound(f"no call-in {call_in_id!r} was scheduled or held")
        await dash.log_access(user, Resource.CALL_IN, call_in_id, person_refs_shown=False, via="api")
        return _private(found.model_dump_json().encode())

    @router.get("/call-ins/{call_in_id}/people",
                summary="A call-in's invited and summoned persons with probation status and attendance "
                        "(roles that see person references)",
                responses={403: {"description": "Not a role that may see person references"},
                           404: {"description": "No such call-in"}, 503: {"description": "Access log down"}})
    async def call_in_people(call_in_id: str, user: User) -> Response:
        dash.require(user, lambda r: r.sees_person_refs, "person references")
        found = prep_of(dash, call_in_id, people=True)
        if found is None:
            raise NotFound(f"no call-in {call_in_id!r} was scheduled or held")
        await dash.log_access(user, Resource.CALL_IN_PEOPLE, call_in_id, person_refs_shown=True, via="api")
        return _private(found.model_dump_json().encode())

    @router.get("/call-ins/{call_in_id}/brief", summary="The anonymised call-in brief",
                responses={404: {"description": "No such call-in"}, 503: {"description": "Access log down"}})
    async def brief(call_in_id: str, user: User) -> Response:
        found = call_in_brief(dash.model, call_in_id)
        if found is None:
            raise NotFound(f"no call-in {call_in_id!r} was scheduled or held")
        await dash.log_access(user, Resource.CALL_IN_BRIEF, call_in_id, person_refs_shown=False, via="api")
        return _private(found.model_dump_json().encode())


def _stats(router: APIRouter, dash: Dashboard) -> None:
    """The published tables, follow-through, and the areas to filter by."""
    def _table(granularity: Granularity, area: str | None, start: date | None, end: date | None) -> Response:
        try:
            where = stats_filter(area, start, end)
        except ValueError as exc:
            return _json({"detail": str(exc)}, 422)
        key = (dash.model.sources.version, granularity, where)
        return _json(dash.cached(f"violence-{granularity}", key, lambda: json.dumps(
            [r.model_dump(mode="json", exclude_none=True)
             for r in violence_table(dash.model.sources.incidents(), granularity=granularity, where=where)]
        ).encode()))

    @router.get("/stats/yearly", summary="The published table per year (Europe/Stockholm)")
    async def yearly(_: User, area: Area = None, start: From = None, end: To = None) -> Response:
        return _table(Granularity.YEAR, area, start, end)

    @router.get("/stats/monthly", summary="The published table per month (Europe/Stockholm)")
    async def monthly(_: User, area: Area = None, start: From = None, end: To = None) -> Response:
        return _table(Granularity.MONTH, area, start, end)

    @router.get("/stats/follow-through", summary="Swiftness and certainty per period, and overall")
    async def follow(_: User, area: Area = None, start: From = None, end: To = None,
                     granularity: Granularity = Granularity.YEAR) -> Response:
        try:
            where = stats_filter(area, start, end)
        except ValueError as exc:
            return _json({"detail": str(exc)}, 422)
        area_of = area_lookup(dash)
        rows = follow_through(dash.model.cases(), area_of, granularity=granularity, where=where)
        total = follow_through_total(dash.model.cases(), area_of, where=where)
        return _json({"rows": [r.model_dump(mode="json", exclude_none=True) for r in rows],
                      "total": total.model_dump(mode="json")})

    @router.get("/areas", summary="Areas known from incidents and group registrations")
    async def areas(_: User) -> Response:
        return _json(dash.model.sources.areas())


def _audit_trail(router: APIRouter, dash: Dashboard) -> None:
    """The auditors' routes: the verification and checkpoints, the access log."""

    @router.get("/audit", summary="Auditors: the last verification and the checkpoints per partition",
                responses={403: {"description": "Not an auditor"},
                           503: {"description": "Kafka did not answer, or no auditors' public keys"}})
    async def audit(user: User) -> Response:
        dash.require(user, lambda r: r.reaches_audit_pages, "the audit trail")
        return _private(snapshot_document(await dash.audit.snapshot()))

    @router.get("/audit/access-log", summary="Auditors: who read person-level data or a brief, newest first",
                responses={403: {"description": "Not an auditor"}})
    async def access_log(user: User, limit: Annotated[int, Query(ge=1, le=5000)] = 500,
                         by: Annotated[str | None, Query(alias="user", max_length=200,
                                                         description="Only this user's reads")] = None,
                         resource_id: Audited = None) -> Response:
        dash.require(user, lambda r: r.reaches_audit_pages, "the access log")
        entries = dash.access_view.latest(limit, user=by or None, resource_id=resource_id or None)
        return _private({"total": dash.access_view.total,
                         "entries": [e.model_dump(mode="json") for e in entries]})


def _live(router: APIRouter, dash: Dashboard) -> None:
    """The pages' live stream."""

    @router.get("/stream", summary="Server-sent events: group, alert, sources, stale, fresh, ping")
    async def stream(user: User) -> StreamingResponse:
        stale_since = dash.feed_stale_since()
        hello = sse_message("hello", {"user": user.name, "role": user.role.value,
                                      "stale_since": stale_since.isoformat() if stale_since else None})
        events = dash.hub.stream(hello, heartbeat_seconds=dash.settings.sse_heartbeat_seconds)
        return StreamingResponse(events, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
