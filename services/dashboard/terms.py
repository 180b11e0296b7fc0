"""What the values of the events and of the rules are called where people read them (pages and the
PDF brief), in English and Swedish; the JSON API keeps the values themselves, for scripts.

A vocabulary is either an enumeration (`ENUMERATIONS`: every value must have a term in both
languages, a test holds it to that) or a known list of free-text values (support services and exit
milestones as the agencies post them, agency names, how a read was made), where a value not listed
is shown as it was given. The Swedish terms are the ones the Swedish partnerships use in their own
material: "sprängning" for an explosion, "individuellt samtal" for a custom notification, "call-in"
as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import get_args

from services.audit.library import Role as AuditorRole
from services.contracts.access import Resource
from services.contracts.alerts import AlertKind
from services.contracts.events import (
    EVENT_TYPES,
    Confidence,
    ExitMilestoneKind,
    IncidentKind,
    RelationKind,
    SanctionKind,
    SourceGrade,
    TriageAction,
    WarningChannel,
)
from services.contracts.group_state import CaseStatus, GroupStatus, LinkRule, ResolvedBy, UnresolvedSanction
from services.dashboard.auth import Role

__all__ = ["ENUMERATIONS", "TERMS", "term"]

_UNRESOLVED_REASONS = frozenset(get_args(UnresolvedSanction.model_fields["reason"].annotation))
"""The values of `UnresolvedSanction.reason` (a `Literal`)."""

Terms = dict[str, tuple[str, str]]
"""value -> (English, Swedish)"""

_INCIDENT_KIND: Terms = {
    "shooting": ("shooting", "skjutning"),
    "explosion": ("explosion", "sprängning"),
    "homicide": ("homicide", "dödligt våld"),
    "attempted_homicide": ("attempted homicide", "mordförsök"),
    "aggravated_assault": ("aggravated assault", "grov misshandel"),
    "arson": ("arson", "anlagd brand"),
}
_SANCTION_KIND: Terms = {
    "arrest": ("arrest", "gripande"),
    "detention": ("detention", "frihetsberövande"),
    "prosecution": ("prosecution", "åtal"),
    "sentence_enforcement": ("enforcement of an earlier sentence", "verkställighet av tidigare straff"),
    "probation_action": ("probation action", "frivårdsåtgärd"),
    "search": ("search", "husrannsakan"),
    "asset_seizure": ("asset seizure", "beslag av tillgångar"),
    "tax_enforcement": ("tax or debt enforcement", "skatte- eller indrivningsåtgärd"),
    "other": ("other sanction", "annan sanktion"),
}
_WARNING_CHANNEL: Terms = {
    "call_in": ("call-in", "call-in"),
    "custom_notification": ("custom notification", "individuellt samtal"),
    "home_visit": ("home visit", "hembesök"),
    "letter": ("letter", "brev"),
}
_RELATION_KIND: Terms = {
    "conflict": ("conflict", "konflikt"),
    "alliance": ("alliance", "allians"),
}
_SOURCE_GRADE: Terms = {
    "A": ("A: completely reliable", "A: helt tillförlitlig"),
    "B": ("B: usually reliable", "B: oftast tillförlitlig"),
    "C": ("C: fairly reliable", "C: ganska tillförlitlig"),
    "D": ("D: not usually reliable", "D: oftast inte tillförlitlig"),
    "E": ("E: unreliable", "E: otillförlitlig"),
}
_CONFIDENCE: Terms = {
    "low": ("low", "låg"),
    "medium": ("medium", "medel"),
    "high": ("high", "hög"),
}
_CASE_STATUS: Terms = {
    "awaiting_sanction": ("awaiting sanction", "väntar på sanktion"),
    "sanctioned": ("sanctioned", "sanktionerat"),
    "presented": ("presented", "redovisat"),
}
_GROUP_STATUS: Terms = {
    "unwarned": ("unwarned", "ej varnad"),
    "warned": ("warned", "varnad"),
    "awaiting_sanction": ("awaiting sanction", "väntar på sanktion"),
    "sanctioned": ("sanctioned", "sanktionerad"),
    "presented": ("presented", "redovisad"),
}
_LINK_RULE: Terms = {
    "explicit_incident": ("names the incident", "anger händelsen"),
    "latest_case_within_window": ("latest case within the window", "senaste ärendet inom tidsfönstret"),
    "baseline": ("baseline (no open case)", "övrig sanktion (inget öppet ärende)"),
}
_RESOLVED_BY: Terms = {
    "named_group": ("group named", "gruppen angiven"),
    "membership": ("through a membership", "genom medlemskap"),
}
_ALERT_KIND: Terms = {
    "enforcement_triggered": ("Enforcement triggered", "Sanktioner utlösta"),
    "unwarned_violence": ("Unwarned violence", "Våld av ej varnad grupp"),
    "retaliation_risk": ("Retaliation risk", "Risk för hämnd"),
    "follow_through_stalled": ("Follow-through stalled", "Uppföljning avstannad"),
    "no_show_on_probation": ("No-show on probation (to probation)",
                             "Uteblev från call-in under frivård (till Frivården)"),
}
_ROLE: Terms = {
    "operator": ("operator", "operatör"),
    "analyst": ("analyst", "analytiker"),
    "auditor": ("auditor", "granskare"),
    "auditor-personal-data": ("auditor with access to personal data",
                              "granskare med åtkomst till personuppgifter"),
}
"""The dashboard's roles and `gvi-audit`'s (an export's access-log entry names the auditor's role)."""
_RESOURCE: Terms = {
    "group": ("group", "grupp"),
    "group_people": ("group with person references", "grupp med personreferenser"),
    "call_in_brief": ("call-in brief", "underlag för call-in"),
    "call_in": ("call-in: invited groups and attendance", "call-in: inbjudna grupper och närvaro"),
    "call_in_people": ("call-in with person references and probation status",
                       "call-in med personreferenser och frivårdsstatus"),
    "group_audit": ("group audit: memberships with person references",
                    "gruppkartläggning: medlemskap med personreferenser"),
    "exit_programme": ("exit programme: counts per group", "avhopparverksamheten: antal per grupp"),
    "exit_programme_people": ("exit programme with person references",
                              "avhopparverksamheten med personreferenser"),
    "session": ("logout (the session's id)", "utloggning (sessionens id)"),
    "data_entry": ("event entered in a form (the event's id)",
                   "händelse registrerad i formulär (händelsens id)"),
    "audit_export": ("audit export (gvi-audit)", "granskningsexport (gvi-audit)"),
}
_UNRESOLVED_REASON: Terms = {
    "no_membership_valid_at_sanction_time": ("no membership valid at the sanction's time",
                                             "inget giltigt medlemskap vid sanktionstillfället"),
}
_EVENT_TYPE: Terms = {
    "gvi.group.registered.v1": ("group registered", "grupp registrerad"),
    "gvi.membership.assessed.v1": ("membership assessed", "medlemskap bedömt"),
    "gvi.group.relation.recorded.v1": ("group relation recorded", "relation mellan grupper registrerad"),
    "gvi.group.relation.ended.v1": ("group relation ended", "relation mellan grupper avslutad"),
    "gvi.callin.scheduled.v1": ("call-in scheduled", "call-in planerat"),
    "gvi.callin.held.v1": ("call-in held", "call-in genomfört"),
    "gvi.warning.delivered.v1": ("warning delivered", "varning framförd"),
    "gvi.incident.reported.v1": ("incident reported", "händelse rapporterad"),
    "gvi.incident.attributed.v1": ("incident attribution revised", "händelse ombedömd"),
    "gvi.sanction.recorded.v1": ("sanction recorded", "sanktion registrerad"),
    "gvi.support.offered.v1": ("support offered", "stöd erbjudet"),
    "gvi.support.accepted.v1": ("support accepted", "stöd accepterat"),
    "gvi.exit.milestone.v1": ("exit programme milestone", "steg i avhopparverksamheten"),
    "gvi.alert.triaged.v1": ("alert triaged", "larm hanterat"),
    "gvi.exit.milestone.v2": ("exit programme milestone (v2)", "steg i avhopparverksamheten (v2)"),
    "gvi.event.retracted.v1": ("event retracted", "händelse återkallad"),
}
_TRIAGE_ACTION: Terms = {
    "acknowledged": ("acknowledged", "kvitterat"),
    "assigned": ("assigned", "tilldelat"),
    "resolved": ("resolved", "åtgärdat"),
}

# Known lists of free-text values.
_SUPPORT_SERVICE: Terms = {
    "hotline": ("hotline", "stödlinje"),
    "housing": ("housing", "boende"),
    "work": ("work", "arbete"),
    "education": ("education", "utbildning"),
    "relocation": ("relocation", "flytt till annan ort"),
    "debt counselling": ("debt counselling", "skuldrådgivning"),
    "mentoring": ("mentoring", "mentorskap"),
    "exit programme intake": ("exit programme intake", "inskrivning i avhopparverksamheten"),
    "exit programme completed": ("exit programme completed", "avhopparverksamheten slutförd"),
}
_EXIT_MILESTONE: Terms = {
    "intake": ("entered the exit programme", "inskriven i avhopparverksamheten"),
    "plan_agreed": ("exit plan agreed", "handlingsplan överenskommen"),
    "housing": ("housing arranged", "boende ordnat"),
    "work_or_studies": ("work or studies started", "arbete eller studier påbörjade"),
    "left_group": ("left the group", "lämnat gruppen"),
    "left_area": ("left the area", "flyttat från området"),
    "completed": ("exit programme completed", "avhopparverksamheten slutförd"),
    "dropped_out": ("dropped out of the programme", "avbrutit avhopparverksamheten"),
}
_AGENCY: Terms = {
    "police": ("Police", "Polisen"),
    "prosecutor": ("Prosecution Authority", "Åklagarmyndigheten"),
    "probation": ("Probation Service", "Frivården"),
    "municipality": ("Municipality", "Kommunen"),
    "civil-society": ("Civil society", "Civilsamhället"),
}
_VIA: Terms = {
    "web": ("page", "sida"),
    "api": ("API", "API"),
    "pdf": ("PDF", "PDF"),
    "cli": ("gvi-audit", "gvi-audit"),
}

_PROBLEM_KIND: Terms = {
    "malformed": ("malformed record", "felaktig post"),
    "bad_signature": ("bad signature", "ogiltig signatur"),
    "unknown_key": ("signed by an unknown key", "signerad med okänd nyckel"),
    "missing": ("missing", "saknas"),
    "altered": ("altered", "ändrad"),
    "inserted": ("inserted", "infogad"),
    "truncated": ("truncated", "avkortad"),
    "unchecked": ("not covered by a checkpoint", "inte täckt av någon kontrollpunkt"),
}
"""What `gvi-audit verify` found wrong with a checkpoint (`services.audit.library.Problem.kind`)."""

TERMS: Mapping[str, Terms] = {
    "incident_kind": _INCIDENT_KIND, "sanction_kind": _SANCTION_KIND, "warning_channel": _WARNING_CHANNEL,
    "relation_kind": _RELATION_KIND, "source_grade": _SOURCE_GRADE, "confidence": _CONFIDENCE,
    "case_status": _CASE_STATUS, "group_status": _GROUP_STATUS, "link_rule": _LINK_RULE,
    "resolved_by": _RESOLVED_BY, "alert_kind": _ALERT_KIND, "role": _ROLE, "resource": _RESOURCE,
    "event_type": _EVENT_TYPE, "support_service": _SUPPORT_SERVICE,
    "exit_milestone": _EXIT_MILESTONE, "agency": _AGENCY, "via": _VIA,
    "unresolved_reason": _UNRESOLVED_REASON, "triage_action": _TRIAGE_ACTION, "problem_kind": _PROBLEM_KIND,
}
"""Every vocabulary by name, as templates ask for it: `t.term("sanction_kind", s.kind)`."""

ENUMERATIONS: Mapping[str, type[StrEnum] | tuple[type[StrEnum], ...] | frozenset[str]] = {
    "incident_kind": IncidentKind, "sanction_kind": SanctionKind, "warning_channel": WarningChannel,
    "relation_kind": RelationKind, "source_grade": SourceGrade, "confidence": Confidence,
    "case_status": CaseStatus, "group_status": GroupStatus, "link_rule": LinkRule,
    "resolved_by": ResolvedBy, "alert_kind": AlertKind, "role": (Role, AuditorRole), "resource": Resource,
    "event_type": frozenset(EVENT_TYPES), "unresolved_reason": _UNRESOLVED_REASONS,
    "triage_action": TriageAction,
    "exit_milestone": ExitMilestoneKind,
}
"""The vocabularies whose values are closed: each value of each must be in `TERMS` (a vocabulary of
several enumerations: each value of every one of them)."""


def term(lang: str, vocabulary: str, value: object) -> str:
    """`value` in `lang` ("sv", otherwise English); a value the vocabulary does not list is shown as
    given. An unknown vocabulary is a mistake in a template: KeyError."""
    key = value.value if isinstance(value, StrEnum) else str(value)
    found = TERMS[vocabulary].get(key)
    if found is None:
        return key
    return found[1] if lang == "sv" else found[0]
