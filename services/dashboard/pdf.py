"""The call-in brief as a PDF (fpdf2, pure Python; its built-in Helvetica needs no font file).

It prints exactly what `CallInBrief` holds, which carries no person reference by construction, with
every value of an event or of the rules in the reader's language (`Labels.term`); once the call-in
is held, each group's attendance as two counts."""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF

from services.dashboard.i18n import Labels
from services.dashboard.readmodel.brief import BriefSanction, CallInBrief
from services.dashboard.readmodel.stats import STOCKHOLM

__all__ = ["brief_pdf"]


def _text(value: object) -> str:
    """Helvetica covers Latin-1 (å, ä, ö); anything else is replaced, never dropped silently."""
    return str(value).encode("latin-1", "replace").decode("latin-1")


def _day(time: datetime | None) -> str:
    return time.astimezone(STOCKHOLM).strftime("%Y-%m-%d") if time is not None else "-"


def _sanction(s: BriefSanction, t: Labels) -> str:
    after = f", {s.days_after_incident:g} d" if s.days_after_incident is not None else ""
    return f"{t.term('sanction_kind', s.kind)} ({t.term('agency', s.agency)}) {_day(s.time)}{after}"


def brief_pdf(brief: CallInBrief, t: Labels) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(_text(f"{t['brief']} {brief.call_in_id}"))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def line(text: str, size: int = 10, style: str = "", gap: float = 5.5) -> None:
        pdf.set_font("Helvetica", style, size)
        pdf.multi_cell(width, gap, _text(text), new_x="LMARGIN", new_y="NEXT")

    line(f"{t['brief']}: {brief.call_in_id}", 16, "B", 8)
    line(f"{t['scheduled_for']}: {_day(brief.scheduled_for)}   {t['held']}: {_day(brief.held_time)}   "
         f"{t['location']}: {brief.location or '-'}")
    for group in brief.groups:
        pdf.ln(3)
        status = t.term("group_status", group.status) if group.status else "-"
        line(f"{group.name or group.group_id} ({group.group_id}) - {status}", 13, "B", 7)
        if group.attended is not None:
            line(f"{t['brief_attendance']}: {t['attended'].lower()} {group.attended}, "
                 f"{t['no_shows'].lower()} {group.no_shows}")
        period = {"previous_call_in": t["since_previous"], "first_warning": t["since_first_warning"],
                  "beginning": t["since_beginning"]}[group.period_from]
        line(f"{t['warnings_given']}: " + (", ".join(f"{t.term('warning_channel', w.channel)} {_day(w.time)}"
                                                     for w in group.warnings)
                                           or t["none"]))
        line(f"{t['violations']} ({period}{', ' + _day(group.period_start) if group.period_start else ''}):",
             10, "B")
        if not group.violations:
            line(f"  {t['none']}")
        for v in group.violations:
            kind = t.term("incident_kind", v.kind) if v.kind else "?"
            line(f"  {_day(v.time)} {kind} {v.area or ''} [{v.incident_id}]")
            delivered = "; ".join(_sanction(s, t) for s in v.sanctions)
            line("      " + (delivered or f"{t['sanctions']}: {t['none']}"), 9)
        if group.other_enforcement:
            line(f"{t['other_enforcement']}: " + "; ".join(_sanction(s, t) for s in group.other_enforcement),
                 9)
        line(f"{t['support']}: " + (", ".join(f"{t.term('support_service', s.service)} ({t['offered']} "
                                               f"{s.offered}, {t['accepted']} {s.accepted})"
                                               for s in group.support) or t["none"]))
    return bytes(pdf.output())
