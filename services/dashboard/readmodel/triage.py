"""An alert's triage as the coordinators recorded it (`gvi.alert.triaged.v1`): the partnership's
own follow-up of the processor's alerts, shown beside them. It changes no rule; an alert is raised
and withdrawn by the rules alone, whatever its triage.

For each alert the latest triage event that counts gives its state: latest by time, then by when the
intake recorded it (a form gives the time to the minute, and two actions on one alert in the same
minute are in the order they were sent), then by (id, source); the
assignee is that of the latest `assigned` event (an alert acknowledged again after it was assigned
stays assigned to that user), the note that of the latest event with one. An alert is **open** while
it is active and its state is not `resolved`; a resolved alert acknowledged again is open again.
Pure: facts in, a view out (the facts are those `SourceFacts` keeps, retractions applied).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.contracts.events import AlertTriaged, TriageAction
from services.followthrough import Fact

__all__ = ["TriageView", "triage_of"]


@dataclass(frozen=True, slots=True)
class TriageView:
    alert_id: str
    state: TriageAction
    time: datetime
    """When the latest triage event happened."""
    agency: str
    """The agency whose coordinator recorded it (the user is in the access log)."""
    assignee: str | None
    note: str | None

    @property
    def resolved(self) -> bool:
        return self.state is TriageAction.RESOLVED


def _order(fact: Fact) -> tuple[datetime, datetime, str, str]:
    return (fact.time, fact.recordedtime or fact.time, fact.id, fact.source)


def triage_of(alert_id: str, facts: Iterable[Fact]) -> TriageView | None:
    """The alert's triage from the triage events about it that count; None if there is none."""
    triaged = [(f, f.data) for f in facts if isinstance(f.data, AlertTriaged)]
    if not triaged:
        return None
    last, data = max(triaged, key=lambda pair: _order(pair[0]))
    assignee = max(((_order(f), d.assignee) for f, d in triaged if d.assignee is not None), default=None)
    note = max(((_order(f), d.note) for f, d in triaged if d.note is not None), default=None)
    return TriageView(alert_id, data.action, last.time, last.agency or last.source.rsplit("/", 1)[-1],
                      assignee[1] if assignee is not None else None, note[1] if note is not None else None)
