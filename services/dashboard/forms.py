"""The data-entry forms: what each asks for, how what a person typed becomes the CloudEvent an agency
system would post, and how the intake's refusal is put back beside the fields. Pure: no HTTP, no
clock (the routes are in `entry.py`, the posting in `posting.py`).

The dashboard checks as little as it can itself, so that a person sees the intake's own messages:
it only turns the dates and times typed (Swedish time) into RFC 3339 times, leaves out fields left
empty, and splits the attendance lists and the lists of groups into entries. Everything else,
required fields, identifier patterns, the channel's rules, which events may be retracted, is the
contract's and the intake's, checked and worded by the intake.

A retraction (`gvi.event.retracted.v1`) has no intake of its own: it goes to the intake that accepted
the event it retracts. The retraction form retracts an agency's own entries, so it goes to the intake
of the agency's other forms (`entries_intake`); the dashboard refuses to start when those are of
several intakes (it could not tell which one took the entry).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.contracts import RETRACTION_TYPE, Service, owner_of
from services.contracts.events import ExitMilestoneKind, SanctionKind, TriageAction, WarningChannel
from services.dashboard.posting import AgencyKey
from services.dashboard.readmodel.stats import STOCKHOLM
from services.dashboard.terms import TERMS

__all__ = ["FORMS", "Entry", "FieldKind", "FormField", "FormSpec", "FormValues", "Refusal", "build_event",
           "entries_intake", "refusal_of", "time_value"]

FormValues = Mapping[str, str | list[str]]
"""What was submitted (or is to be shown in) a form: one string per field, a list for checkboxes."""


class FieldKind(StrEnum):
    TEXT = "text"
    DATETIME = "datetime"
    SELECT = "select"
    LINES = "lines"
    """One person per line: a group id and a person reference (a list of attendance entries)."""
    LIST = "list"
    """One identifier per line (a list of strings)."""
    PARAGRAPH = "paragraph"
    """Free text, line breaks allowed (one string)."""
    CHECKBOXES = "checkboxes"


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    """The `data` field it fills (`time` is the envelope's)."""
    kind: FieldKind
    required: bool = False
    choices: tuple[str, ...] = ()
    vocabulary: str | None = None
    """The terms the choices (or suggestions) are shown with (`terms.py`)."""
    suggest: str | None = None
    """What a text field suggests (a `<datalist>`): `groups`, `call_ins` or `services`."""
    prefill: bool = False
    """The form's page takes its first value from the query (`?retracted_event_id=...`: the receipt's
    link "retract this entry"; `?alert_id=...&action=...`: the alerts page's links to assign or
    resolve an alert); what is sent is checked by the intake as anything typed."""


@dataclass(frozen=True, slots=True)
class FormSpec:
    name: str
    event_type: str
    fields: tuple[FormField, ...]

    def input(self, name: str) -> FormField | None:
        return next((f for f in self.fields if f.name == name), None)


_TIME = FormField("time", FieldKind.DATETIME, required=True)
_GROUP = FormField("group_id", FieldKind.TEXT, required=True, suggest="groups")
_PERSON = FormField("person_ref", FieldKind.TEXT)
_SERVICE = FormField("service", FieldKind.TEXT, required=True, vocabulary="support_service",
                     suggest="services")
FORMS: dict[str, FormSpec] = {spec.name: spec for spec in (
    FormSpec("call-in-scheduled", "gvi.callin.scheduled.v1", (
        _TIME,
        FormField("call_in_id", FieldKind.TEXT, required=True, suggest="call_ins"),
        FormField("scheduled_for", FieldKind.DATETIME, required=True),
        FormField("location", FieldKind.TEXT, required=True),
        FormField("invited_group_ids", FieldKind.LIST, required=True),
    )),
    FormSpec("call-in", "gvi.callin.held.v1", (
        _TIME,
        FormField("call_in_id", FieldKind.TEXT, required=True, suggest="call_ins"),
        FormField("attended", FieldKind.LINES),
        FormField("no_shows", FieldKind.LINES),
    )),
    FormSpec("warning", "gvi.warning.delivered.v1", (
        _TIME, _GROUP,
        FormField("channel", FieldKind.SELECT, required=True, vocabulary="warning_channel",
                  choices=tuple(c.value for c in WarningChannel)),
        FormField("person_ref", FieldKind.TEXT),
        FormField("call_in_id", FieldKind.TEXT, suggest="call_ins"),
        FormField("promised_levers", FieldKind.CHECKBOXES, vocabulary="sanction_kind",
                  choices=tuple(k.value for k in SanctionKind)),
    )),
    FormSpec("support", "gvi.support.offered.v1", (_TIME, _GROUP, _PERSON, _SERVICE)),
    FormSpec("support-accepted", "gvi.support.accepted.v1", (_TIME, _GROUP, _PERSON, _SERVICE)),
    FormSpec("exit-milestone", "gvi.exit.milestone.v2", (
        _TIME, _GROUP,
        FormField("person_ref", FieldKind.TEXT, required=True),
        FormField("milestone", FieldKind.SELECT, required=True, vocabulary="exit_milestone",
                  choices=tuple(m.value for m in ExitMilestoneKind)),
        FormField("service", FieldKind.TEXT, vocabulary="support_service", suggest="services"),
    )),
    FormSpec("relation-ended", "gvi.group.relation.ended.v1", (
        _TIME, _GROUP,
        FormField("other_group_id", FieldKind.TEXT, required=True, suggest="groups"),
    )),
    FormSpec("alert-triage", "gvi.alert.triaged.v1", (
        _TIME,
        FormField("alert_id", FieldKind.TEXT, required=True, prefill=True),
        FormField("action", FieldKind.SELECT, required=True, vocabulary="triage_action",
                  choices=tuple(a.value for a in TriageAction), prefill=True),
        FormField("assignee", FieldKind.TEXT),
        FormField("note", FieldKind.PARAGRAPH),
    )),
    FormSpec("retraction", RETRACTION_TYPE, (
        _TIME,
        FormField("retracted_event_id", FieldKind.TEXT, required=True, prefill=True),
        FormField("reason", FieldKind.PARAGRAPH, required=True),
    )),
)}
"""Every form, by the name in its path (`/enter/<name>`); `posting.FORM_NAMES` lists the same names."""


def entries_intake(forms: Sequence[str]) -> Service | None:
    """The intake a retraction of an entry made with `forms` goes to: the one intake that owns the
    types of those forms; None when they are of several (or none)."""
    owners = {owner_of(FORMS[name].event_type) for name in forms if FORMS[name].event_type != RETRACTION_TYPE}
    return owners.pop() if len(owners) == 1 else None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an entry was not recorded. `fields` and `general` are the intake's words (by form field,
    and those that belong to no field); `notes` and `field_notes` are the dashboard's own, as label
    keys (`i18n/`), shown in the reader's language."""

    fields: Mapping[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    field_notes: Mapping[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Entry:
    """A form turned into an event, or the dashboard's own refusal (before anything is posted)."""

    event: dict[str, Any] | None
    refusal: Refusal | None


def time_value(when: datetime) -> str:
    """A time as the form's date-and-time field shows it: Swedish time, to the minute."""
    return when.astimezone(STOCKHOLM).strftime("%Y-%m-%dT%H:%M")


def _time(typed: str) -> str | None:
    """A date and time as typed, as RFC 3339: Swedish time unless an offset is given."""
    try:
        local = datetime.fromisoformat(typed.strip())
    except ValueError:
        return None
    if local.tzinfo is None:
        local = local.replace(tzinfo=STOCKHOLM)
    return local.isoformat(timespec="seconds")


_SEPARATORS = re.compile(r"[\s,;]+")


def _entries(typed: str) -> list[dict[str, str]]:
    """One line per person: the group id, then the person reference. A line that is not two words
    is passed on as it is, so that the intake's message says what is wrong with it."""
    entries = []
    for line in typed.splitlines():
        words = [w for w in _SEPARATORS.split(line.strip()) if w]
        if not words:
            continue
        entry = {"group_id": words[0]}
        if len(words) > 1:
            entry["person_ref"] = " ".join(words[1:])
        entries.append(entry)
    return entries


def _text(values: FormValues, name: str) -> str:
    value = values.get(name, "")
    return value if isinstance(value, str) else (value[0] if value else "")


def _coded(vocabulary: str, typed: str) -> str:
    """A free-text value typed as its English or Swedish term (`boende`, as the Swedish form suggests
    it) is posted as the value the term stands for (`housing`); anything else as typed."""
    wanted = typed.casefold()
    for value, names in TERMS[vocabulary].items():
        if wanted in (value.casefold(), *(name.casefold() for name in names)):
            return value
    return typed


def build_event(spec: FormSpec, values: FormValues, *, agency: AgencyKey, event_id: str) -> Entry:
    """The structured-mode CloudEvent the form stands for, or the dashboard's own refusal (an
    unreadable time, a damaged event id). Fields left empty are left out of `data`."""
    own: dict[str, list[str]] = {}
    notes: list[str] = []
    try:
        uuid.UUID(event_id)
    except ValueError:
        notes.append("entry_damaged")
    typed_time = _text(values, "time")
    when = _time(typed_time) if typed_time.strip() else None
    if not typed_time.strip():
        own["time"] = ["entry_time_required"]
    elif when is None:
        own["time"] = ["entry_time_invalid"]
    data: dict[str, Any] = {}
    for asked in spec.fields:
        if asked.name == "time":
            continue
        if asked.kind is FieldKind.DATETIME:
            typed = _text(values, asked.name).strip()
            if typed:
                converted = _time(typed)
                if converted is None:
                    own[asked.name] = ["entry_time_invalid"]
                else:
                    data[asked.name] = converted
            continue
        if asked.kind is FieldKind.CHECKBOXES:
            chosen = values.get(asked.name, [])
            picked = [chosen] if isinstance(chosen, str) else list(chosen)
            if picked:
                data[asked.name] = picked
        elif asked.kind is FieldKind.LINES:
            listed = _entries(_text(values, asked.name))
            if listed:
                data[asked.name] = listed
        elif asked.kind is FieldKind.LIST:
            items = [line.strip() for line in _text(values, asked.name).splitlines() if line.strip()]
            if items:
                data[asked.name] = items
        else:
            typed = _text(values, asked.name).strip()
            if typed:
                data[asked.name] = _coded(asked.vocabulary, typed) if asked.vocabulary else typed
    if own or notes:
        return Entry(None, Refusal(notes=notes, field_notes=own))
    return Entry({"specversion": "1.0", "id": event_id, "source": agency.source, "type": spec.event_type,
                  "time": when, "data": data}, None)


def refusal_of(spec: FormSpec, body: Mapping[str, Any]) -> Refusal:
    """The intake's 4xx answer put beside the form's fields: `data.<field>...` and `time` go to that
    field (with the rest of the path, e.g. the line of an attendance list), anything else above the
    form, after the intake's own message."""
    fields: dict[str, list[str]] = {}
    general: list[str] = []
    errors: Sequence[Any] = body.get("errors") or []
    for error in errors:
        if not isinstance(error, Mapping):
            continue
        where, message = str(error.get("field") or ""), str(error.get("message") or "")
        parts = where.split(".")
        name = parts[1] if parts[0] == "data" and len(parts) > 1 else parts[0]
        if spec.input(name) is not None:
            rest = parts[2:] if parts[0] == "data" else parts[1:]
            if rest and rest[0].isdigit():
                rest = [f"line {int(rest[0]) + 1}", *rest[1:]]
            fields.setdefault(name, []).append(f"{' '.join(rest)}: {message}" if rest else message)
        else:
            general.append(f"{where}: {message}" if where else message)
    said = body.get("message")
    if isinstance(said, str) and said:
        general.insert(0, said)
    return Refusal(fields=fields, general=general)
