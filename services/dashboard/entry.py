"""The data-entry pages: `/enter` lists the forms a user may use, `/enter/<form>` shows one (GET) and
records it (POST) by posting the same CloudEvent an agency's system would, through the same intake,
with the agency's key that the dashboard holds (`posting.py`); the forms are in `forms.py`.

Who may: a logged-in user whose users-file entry names the agency they enter for (`enters_for`), for
the forms the keys file offers that agency; anyone else 403. Every POST carries the session's CSRF
token (as the logout form does). Plain HTML forms: no script is needed.

What a POST answers:
- the dashboard's own refusal (a time it cannot read) or the intake's 4xx: the form again, with what
  was typed and the messages beside their fields, at the intake's status (422, 403, 409 ...);
- the intake unreachable, or answering 5xx (Kafka down): the form again with 503 and `Retry-After`,
  what was typed kept; an access log that cannot be written: the same, before anything is posted;
- 200 or 202 from the intake: the receipt (the event's id, topic, partition, offset).
A form keeps its event id until it is recorded, so sending it again after a 503 can never record it
twice: the intake answers a repeat with the first receipt.

A form goes to the intake that owns its type; the retraction form to the intake of the agency's other
forms (`forms.entries_intake`), where its entries were accepted. The receipt of an entry links to the
retraction form with the entry's id filled in.

(No `from __future__ import annotations` here: FastAPI reads the route annotations.)
"""

import logging
import secrets
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import FormData

from services.contracts import RETRACTION_TYPE, owner_of
from services.contracts.access import Resource
from services.dashboard.auth import Principal
from services.dashboard.context import SESSION_COOKIE, Dashboard, Forbidden
from services.dashboard.forms import (
    FORMS,
    FieldKind,
    FormSpec,
    FormValues,
    Refusal,
    build_event,
    entries_intake,
    refusal_of,
    time_value,
)
from services.dashboard.ports import AccessLogUnavailable
from services.dashboard.posting import AgencyKey, IntakePoster, IntakeUnreachable
from services.dashboard.terms import TERMS
from services.dashboard.web import Pages

__all__ = ["TRIAGE_FORM", "entry_router", "triage_allowed"]

log = logging.getLogger("gvi.dashboard.entry")

MAX_FORM_BYTES = 256 * 1024
"""A form's body at most (500 attendance lines fit many times over)."""

_MAX_PREFILL = 256
"""A value taken from the query into a form (an event id) at most; the intake checks the rest."""

TRIAGE_FORM = "alert-triage"
"""The form the alerts page's buttons and links post to and open (`gvi.alert.triaged.v1`)."""


def triage_allowed(keys: dict[str, AgencyKey] | None) -> Callable[[Principal], bool]:
    """Whether the alerts page offers a user the triage buttons: a user entering for an agency
    whose forms include the triage form (the same test the form's own routes make)."""
    def allowed(user: Principal) -> bool:
        agency = keys.get(user.enters_for) if keys is not None and user.enters_for is not None else None
        return agency is not None and TRIAGE_FORM in agency.forms
    return allowed


class DataEntryUnavailable(Exception):
    """Data entry is not configured here: no keys file, or no key for the user's agency (503)."""


def entry_router(dash: Dashboard, pages: Pages, poster: IntakePoster,
                 keys: dict[str, AgencyKey] | None) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    desk = _Desk(dash, pages, poster, keys)

    @router.get("/enter")
    async def forms_index(request: Request) -> Response:
        user, agency = desk.entrant(request)
        return pages.render(request, "entry_index.html", user=user, page="enter", agency=agency,
                            forms=[FORMS[name] for name in agency.forms])

    for spec in FORMS.values():
        router.add_api_route(f"/enter/{spec.name}", desk.form_page(spec), methods=["GET"])
        router.add_api_route(f"/enter/{spec.name}", desk.form_post(spec), methods=["POST"])
    return router


@dataclass
class _Desk:
    """What the data-entry routes share: who may enter for which agency, a form's page, and the
    recording of a form sent."""

    dash: Dashboard
    pages: Pages
    poster: IntakePoster
    keys: dict[str, AgencyKey] | None

    def entrant(self, request: Request, form: str | None = None) -> tuple[Principal, AgencyKey]:
        user = self.dash.principal(request)
        if user.enters_for is None:
            raise Forbidden("your user does not enter data for an agency; the partnership's administrator "
                            "can give it one (enters_for in the users file)")
        if self.keys is None or user.enters_for not in self.keys:
            raise DataEntryUnavailable("data entry is not configured on this dashboard "
                                       "(GVI_DATA_ENTRY_KEYS_FILE); ask the administrator")
        agency = self.keys[user.enters_for]
        if form is not None and form not in agency.forms:
            raise Forbidden(f"the forms of {user.enters_for} do not include this one")
        return user, agency

    def suggestions(self) -> dict[str, list[tuple[str, str]]]:
        groups = sorted((g, s.name or g) for g, s in self.dash.model.groups().items())
        call_ins = sorted(((c.call_in_id, c.call_in_id) for c in self.dash.model.sources.call_ins()),
                          reverse=True)
        return {"groups": groups, "call_ins": call_ins,
                "services": [(code, code) for code in TERMS["support_service"]]}

    def show(self, request: Request, spec: FormSpec, user: Principal, agency: AgencyKey, values: FormValues,
             event_id: str, *, status: int = 200, refusal: Refusal | None = None,
             headers: dict[str, str] | None = None) -> Response:
        return self.pages.render(request, "entry_form.html", user=user, page="enter", status=status,
                                 headers=headers, spec=spec, agency=agency, values=values, event_id=event_id,
                                 refusal=refusal or Refusal(), suggestions=self.suggestions(),
                                 kinds=FieldKind)

    def form_page(self, spec: FormSpec) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        async def page(request: Request) -> Response:
            user, agency = self.entrant(request, spec.name)
            values: dict[str, str | list[str]] = {"time": time_value(self.dash.clock())}
            for field in spec.fields:
                given = request.query_params.get(field.name) if field.prefill else None
                if given is not None:
                    values[field.name] = given[:_MAX_PREFILL]
            return self.show(request, spec, user, agency, values, str(uuid.uuid4()))
        return page

    def form_post(self, spec: FormSpec) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        async def record(request: Request) -> Response:
            return await self.record(request, spec)
        return record

    async def record(self, request: Request, spec: FormSpec) -> Response:
        user, agency = self.entrant(request, spec.name)
        submitted = await self._submitted(request)
        if isinstance(submitted, Response):
            return submitted
        values: dict[str, str | list[str]] = {}
        for field in spec.fields:
            found = [v for v in submitted.getlist(field.name) if isinstance(v, str)]
            single = found[0] if found else ""
            values[field.name] = found if field.kind is FieldKind.CHECKBOXES else single
        event_id = submitted.get("event_id")
        event_id = event_id if isinstance(event_id, str) else ""
        entry = build_event(spec, values, agency=agency, event_id=event_id)
        if entry.event is None:
            if entry.refusal is not None and "entry_damaged" in entry.refusal.notes:
                event_id = str(uuid.uuid4())
            return self.show(request, spec, user, agency, values, event_id, status=422, refusal=entry.refusal)
        return await self._send(request, spec, user, agency, values, event_id, entry.event)

    async def _submitted(self, request: Request) -> FormData | Response:
        """The form as sent, or the error page: its length missing or too long, or not sent from
        this site (the session's CSRF token)."""
        length = request.headers.get("content-length", "")
        if not length.isdigit():
            return self.pages.error(request, 411, "send the form from its page (its length is missing)")
        if int(length) > MAX_FORM_BYTES:
            return self.pages.error(request, 413, f"a form may send at most {MAX_FORM_BYTES} bytes")
        submitted = await request.form(max_files=0, max_fields=100)
        token = submitted.get("csrf_token")
        session = request.cookies.get(SESSION_COOKIE, "")
        if not isinstance(token, str) or not secrets.compare_digest(token, self.dash.signer.csrf(session)):
            return self.pages.error(request, 403, "the form did not come from this site, or your session "
                                                  "has changed; open the form again")
        return submitted

    async def _send(self, request: Request, spec: FormSpec, user: Principal, agency: AgencyKey,
                    values: FormValues, event_id: str, event: dict[str, Any]) -> Response:
        """Log the entry, post it to its intake, and answer the receipt, or the form again with why not."""
        unavailable = {"Retry-After": "5"}
        try:
            await self.dash.log_access(user, Resource.DATA_ENTRY, event_id, person_refs_shown=False,
                                       via="web")
        except AccessLogUnavailable as exc:
            return self.show(request, spec, user, agency, values, event_id, status=503, headers=unavailable,
                             refusal=Refusal(notes=["entry_not_logged"], general=[str(exc)]))
        service = owner_of(spec.event_type) or entries_intake(agency.forms)
        assert service is not None  # checked at start (app._data_entry_keys)
        try:
            reply = await self.poster.post(service.value, agency.key, event)
        except IntakeUnreachable as exc:
            log.warning("data entry: %s", exc)
            return self.show(request, spec, user, agency, values, event_id, status=503, headers=unavailable,
                             refusal=Refusal(notes=["entry_intake_down"]))
        if reply.status in (200, 202):
            retractable = spec.event_type != RETRACTION_TYPE and "retraction" in agency.forms
            return self.pages.render(request, "entry_done.html", user=user, page="enter", spec=spec,
                                     agency=agency, receipt=reply.body, repeat=reply.status == 200,
                                     retractable=retractable)
        if reply.status == 401 or not 400 <= reply.status < 500:
            note = "entry_intake_down"
            if reply.status == 401:
                note = "entry_key_refused"
                log.error("data entry: the %s intake refuses the key held for %s", service, agency.name)
            said = reply.body.get("message")
            return self.show(request, spec, user, agency, values, event_id, status=503, headers=unavailable,
                             refusal=Refusal(notes=[note], general=[said] if isinstance(said, str) else []))
        return self.show(request, spec, user, agency, values, event_id, status=reply.status,
                         refusal=refusal_of(spec, reply.body))
