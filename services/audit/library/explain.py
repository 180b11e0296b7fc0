"""`gvi-audit explain GROUP [--case INCIDENT_ID]`: which rule made each case and link, from which events.

Every case and link of the replayed state names the ids of the events it rests on (its provenance);
this module finds those events among the facts that count and gives, for each, its type, id, topic,
partition, offset, agency, `time` and `recordedtime`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.audit.library.errors import NotFound
from services.contracts.events import (
    CallInHeld,
    CallInScheduled,
    GroupRegistered,
    IncidentAttributed,
    IncidentReported,
    MembershipAssessed,
    SanctionRecorded,
    WarningDelivered,
)
from services.contracts.group_state import CaseState, GroupState, SanctionLink
from services.followthrough import Fact

__all__ = ["Explanation", "Input", "explain_group", "render_text"]

RULES = {
    "case": "rule 3: a confirmed incident suspected of a group, at or after the group's first warning",
    "unwarned": "rule 3: an incident suspected of a group before the group was warned (unwarned violence)",
    "explicit_incident": "rule 5: the sanction names this incident",
    "latest_case_within_window": "rule 5: the group's latest case at or before the sanction, within the "
                                 "window",
    "baseline": "rule 5: no case of the group within the window before the sanction (baseline)",
    "named_group": "rule 4: the sanction names the group",
    "membership": "rule 4: a membership assessment valid at the sanction's time puts its person in the "
                  "group",
    "presented": "rule 6: the first call-in held after the first sanction, to which the group was invited",
}


def _z(time: datetime) -> str:
    return time.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Input:
    role: str
    fact: Fact

    def to_dict(self) -> dict[str, Any]:
        f = self.fact
        return {"role": self.role, "type": f.type, "id": f.id, "source": f.source, "agency": f.agency,
                "topic": f.topic, "partition": f.partition, "offset": f.offset,
                "time": _z(f.time), "recordedtime": _z(f.recordedtime) if f.recordedtime else None}

    def line(self) -> str:
        d = self.to_dict()
        return (f"{self.role:<12} {d['type']} id={d['id']} at {d['topic']}/{d['partition']}@{d['offset']} "
                f"agency={d['agency']} time={d['time']} recorded={d['recordedtime']}")


@dataclass
class Explained:
    """One derived item (a case, a link, an unwarned incident) and why it is there."""

    what: str
    rules: list[str]
    inputs: list[Input] = field(default_factory=list)
    parts: list[Explained] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "rules": self.rules, "inputs": [i.to_dict() for i in self.inputs],
                "parts": [p.to_dict() for p in self.parts]}


@dataclass
class Explanation:
    group_id: str
    rule_version: int
    status: str
    items: list[Explained]

    def to_dict(self) -> dict[str, Any]:
        return {"group_id": self.group_id, "rule_version": self.rule_version, "status": self.status,
                "items": [i.to_dict() for i in self.items]}

    def inputs(self) -> list[Input]:
        out: list[Input] = []

        def walk(item: Explained) -> None:
            out.extend(item.inputs)
            for part in item.parts:
                walk(part)

        for item in self.items:
            walk(item)
        return out


class _Index:
    def __init__(self, facts: Iterable[Fact]) -> None:
        self._by_id: dict[str, list[Fact]] = defaultdict(list)
        self._reports: dict[str, Fact] = {}
        for fact in facts:
            self._by_id[fact.id].append(fact)
            if isinstance(fact.data, IncidentReported):
                known = self._reports.get(fact.data.incident_id)
                if known is None or fact.order < known.order:
                    self._reports[fact.data.incident_id] = fact

    def report_of(self, incident_id: str) -> Fact | None:
        """The report that counts for an incident (the first, by (time, id), as in rule 2)."""
        return self._reports.get(incident_id)

    def find(self, event_id: str | None, model: type[Any], test: Callable[[Any], bool] = lambda _: True,
             source: str | None = None) -> Fact | None:
        for fact in self._by_id.get(event_id or "", []):
            if isinstance(fact.data, model) and test(fact.data) and (source is None or fact.source == source):
                return fact
        return None


def _inputs(*pairs: tuple[str, Fact | None]) -> list[Input]:
    return [Input(role, fact) for role, fact in pairs if fact is not None]


def _link(index: _Index, group_id: str, link: SanctionLink) -> Explained:
    sanction = index.find(link.sanction_id, SanctionRecorded, source=link.source)
    memberships = [index.find(m, MembershipAssessed, lambda d: d.group_id == group_id)
                   for m in link.membership_ids]
    return Explained(f"sanction {link.sanction_id} ({link.kind}, {_z(link.time)})",
                     [RULES[link.rule.value], RULES[link.resolved_by.value]],
                     _inputs(("sanction", sanction), *(("membership", m) for m in memberships)))


def _case(index: _Index, group_id: str, case: CaseState) -> Explained:
    p = case.provenance
    report = index.find(p.report_id, IncidentReported, lambda d: d.incident_id == case.incident_id)
    review = index.find(p.attribution_id, IncidentAttributed, lambda d: d.incident_id == case.incident_id)
    warning = index.find(p.warning_id, WarningDelivered, lambda d: d.group_id == group_id)
    days = ("" if case.days_to_first_sanction is None
            else f", {case.days_to_first_sanction} days to first sanction")
    item = Explained(f"case {case.incident_id} (incident at {_z(case.incident_time)}): "
                     f"{case.status.value}{days}", [RULES["case"]],
                     _inputs(("report", report), ("attribution", review), ("warning", warning)))
    item.parts = [_link(index, group_id, link) for link in case.links]
    if p.presented_by is not None:
        shown = p.presented_by
        held = index.find(shown.held_id, CallInHeld, lambda d: d.call_in_id == shown.call_in_id)
        scheduled = index.find(shown.scheduled_id, CallInScheduled,
                               lambda d: d.call_in_id == shown.call_in_id)
        item.parts.append(Explained(f"presented at call-in {shown.call_in_id}", [RULES["presented"]],
                                    _inputs(("held", held), ("scheduled", scheduled))))
    return item


def explain_group(state: GroupState | None, facts: Iterable[Fact], group_id: str, *,
                  case_id: str | None = None) -> Explanation:
    """Raises NotFound for a group without state, or a case the group does not have."""
    if state is None:
        raise NotFound(f"unknown group {group_id!r}: no event in the log gives it a state")
    index = _Index(facts)
    cases = [c for c in state.cases if case_id is None or c.incident_id == case_id]
    if case_id is not None and not cases:
        known = ", ".join(c.incident_id for c in state.cases) or "none"
        raise NotFound(f"group {group_id!r} has no case {case_id!r} (its cases: {known})")
    items = [_case(index, group_id, c) for c in cases]
    if case_id is None:
        registration = index.find(state.registration_id, GroupRegistered, lambda d: d.group_id == group_id)
        items.insert(0, Explained(f"group {group_id} ({state.name or 'unnamed'}), warned since "
                                  f"{_z(state.warned_since) if state.warned_since else 'never'}",
                                  ["rule 1: warned from the earliest warning",
                                   "rule 8: the name of the latest registration"],
                                  _inputs(("registration", registration), *(
                                      ("warning", index.find(w.event_id, WarningDelivered,
                                                             lambda d: d.group_id == group_id))
                                      for w in state.warnings))))
        for incident_id in state.unwarned_incident_ids:
            items.append(Explained(f"unwarned incident {incident_id}", [RULES["unwarned"]],
                                   _inputs(("report", index.report_of(incident_id)))))
        items.extend(_link(index, group_id, link) for link in state.baseline_links)
    return Explanation(group_id, state.rule_version, state.status.value, items)


def render_text(explanation: Explanation) -> str:
    lines = [f"group {explanation.group_id}: status {explanation.status}, "
             f"rule version {explanation.rule_version}"]

    def walk(item: Explained, depth: int) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{item.what}")
        lines.extend(f"{pad}  because {rule}" for rule in item.rules)
        lines.extend(f"{pad}  - {i.line()}" for i in item.inputs)
        for part in item.parts:
            walk(part, depth + 1)

    for item in explanation.items:
        walk(item, 1)
    return "\n".join(lines) + "\n"
