"""What the JSON API and the pages both ask of the read model, as of now: the group audit, the exit
programme and a call-in's preparation (revealed for a role that sees person references: the caller
checks the role and writes the access log first), the groups' names, an incident's area, and the
statistics filter of the query."""

from collections.abc import Callable
from datetime import date, datetime

from services.dashboard.context import Dashboard
from services.dashboard.readmodel.call_in import CallInPrep, call_in_prep
from services.dashboard.readmodel.exit_programme import ExitProgramme, exit_programme
from services.dashboard.readmodel.group_audit import GroupAudit, group_audit
from services.dashboard.readmodel.stats import StatsFilter

__all__ = ["area_lookup", "audit_of", "exit_of", "group_names", "prep_of", "stats_filter"]


def stats_filter(area: str | None, start: date | None, end: date | None) -> StatsFilter:
    if start is not None and end is not None and end <= start:
        raise ValueError("'to' must be after 'from'")
    return StatsFilter(area=area or None, start=start, end=end)


def audit_of(dash: Dashboard, *, people: bool, group_id: str | None) -> GroupAudit:
    """The group audit as of now; memberships and person references only with `people` (the caller
    checks the role and writes the access log first)."""
    sources = dash.model.sources
    found = group_audit(sources.memberships(), sources.relations(), dash.model.unresolved_sanctions(),
                        dash.clock(), people=people, group_id=group_id or None)
    return dash.reveal().audit(found) if people else found


def exit_of(dash: Dashboard, *, people: bool, group_id: str | None) -> ExitProgramme | None:
    """The exit programme, of one group or overall; person rows only with `people` (the caller checks
    the role and writes the access log first). None for a group with neither a state nor any offer
    or milestone."""
    facts = dash.model.sources.exit_programme_facts(group_id or None)
    if group_id and not facts and dash.model.group(group_id) is None:
        return None
    found = exit_programme(facts, people=people, group_id=group_id or None, group_name=group_names(dash).get)
    return dash.reveal().exit(found) if people else found


def prep_of(dash: Dashboard, call_in_id: str, *, people: bool) -> CallInPrep | None:
    """A call-in's preparation as of now, with group names and the processor's alerts as received."""
    def raised_at(alert_id: str) -> datetime | None:
        alert = dash.model.alert(alert_id)
        return alert.raised_at if alert is not None and alert.active else None

    found = call_in_prep(dash.model.sources, call_in_id, people=people, group_name=group_names(dash).get,
                         raised_at=raised_at)
    return dash.reveal().prep(found) if people and found is not None else found


def group_names(dash: Dashboard) -> dict[str, str | None]:
    return {g: s.name for g, s in dash.model.groups().items()}


def area_lookup(dash: Dashboard) -> Callable[[str], str | None]:
    def area_of(incident_id: str) -> str | None:
        incident = dash.model.sources.incident(incident_id)
        return incident.area if incident is not None else None
    return area_of
