"""One group's part of the incremental evaluation: its facts in sorted lists, and the links and cases
derived from them, updated locally.

The ledger answers each rule with a binary search instead of a scan: a group's cases are the suffix
of its incident list from `warned_since` on, so "the latest case at or before a sanction" is one
`bisect`; a case's warning is one `bisect` in the warnings (`case_warning`); its presentation one
`bisect` in the held call-ins. A change relinks only the sanctions whose answer can have changed
(those after the changed incidents and before the next unchanged case, plus those naming a changed
incident) and rebuilds only the cases it touched, in `settle`. The property test checks it against
`derive`.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from services.contracts.events import SanctionRecorded
from services.contracts.group_state import (
    CaseState,
    CaseStatus,
    GroupState,
    GroupSummary,
    Presentation,
    SanctionLink,
    WarningEntry,
)
from services.followthrough.facts import Fact, OrderKey
from services.followthrough.rules import (
    Incident,
    LinkTarget,
    case_warning,
    link_target,
    make_case,
    make_group_state,
    make_group_summary,
    make_link,
    presenting_call_in,
    warning_entry,
)
from services.followthrough.sorted_lists import remove_sorted

__all__ = ["GroupLedger"]

IncidentKey = tuple[datetime, str]
"""(incident time, incident id): the order of a group's incidents and cases."""
Target = LinkTarget
"""Where a sanction is linked: (incident id of the case, rule), or (None, baseline)."""


def _time(key: tuple[datetime, str] | tuple[datetime, str, str]) -> datetime:
    return key[0]


def _fact_time(fact: Fact) -> datetime:
    return fact.time


def _order(fact: Fact) -> OrderKey:
    return fact.order


def _held_time(p: Presentation) -> datetime:
    return p.held_time


def _presentation_order(p: Presentation) -> tuple[datetime, str, str]:
    return (p.held_time, p.held_id, p.call_in_id)


class GroupLedger:
    """The facts of one group and what follows from them; mutated only by the `Ledger`."""

    def __init__(self, group_id: str, window_days: int) -> None:
        self.group_id = group_id
        self._window = timedelta(days=window_days)
        self._window_days = window_days
        self._registration: tuple[str | None, str | None] = (None, None)
        self._warnings: list[Fact] = []  # in (time, id, source) order, as `case_warning` takes them
        self._warning_entry: dict[OrderKey, WarningEntry] = {}
        self._warning_entries: tuple[WarningEntry, ...] | None = ()
        self._incidents: list[IncidentKey] = []
        self._incident: dict[str, Incident] = {}
        self._sanctions: list[OrderKey] = []
        self._sanction: dict[OrderKey, tuple[Fact, tuple[str, ...]]] = {}
        self._naming: dict[str, set[OrderKey]] = {}
        self._presentations: list[Presentation] = []
        self._target: dict[OrderKey, Target] = {}
        self._link: dict[OrderKey, SanctionLink] = {}
        self._case_links: dict[str, list[OrderKey]] = {}
        self._baseline: list[OrderKey] = []
        self._cases: dict[str, CaseState] = {}
        self._by_first: list[tuple[datetime, str]] = []
        self._dirty_cases: set[str] = set()
        self._reclassified: set[str] = set()
        self._baseline_key: dict[tuple[str, str], OrderKey] = {}
        self._dirty_baseline: set[tuple[str, str]] = set()
        self._status_count: Counter[CaseStatus] = Counter()
        self._state: GroupState | None = None
        self._summary: tuple[tuple[object, ...], GroupSummary] | None = None

    # -- what the rules see -------------------------------------------------------------------------
    @property
    def warned_since(self) -> datetime | None:
        return self._warnings[0].time if self._warnings else None

    def is_case(self, incident_id: str) -> bool:
        inc = self._incident.get(incident_id)
        return inc is not None and self._is_case_time(inc.time)

    def has_incident(self, incident_id: str) -> bool:
        return incident_id in self._incident

    def is_empty(self) -> bool:
        return not (self._registration[1] or self._warnings or self._incidents or self._sanctions)

    # -- inputs -------------------------------------------------------------------------------------
    def set_registration(self, registration: tuple[str | None, str | None]) -> None:
        self._registration = registration
        self._state = None

    def add_warning(self, fact: Fact) -> None:
        old = self.warned_since
        bisect.insort(self._warnings, fact, key=_order)
        self._warning_entry[fact.order] = warning_entry(fact)
        self._warning_entries = None
        self._after_warning_change(old, fact.time)

    def remove_warning(self, fact: Fact) -> None:
        old = self.warned_since
        remove_sorted(self._warnings, fact, key=_order)
        del self._warning_entry[fact.order]
        self._warning_entries = None
        self._after_warning_change(old, fact.time)

    def add_incident(self, incident: Incident) -> None:
        bisect.insort(self._incidents, (incident.time, incident.incident_id))
        self._incident[incident.incident_id] = incident
        self._after_incident_change(incident)

    def remove_incident(self, incident: Incident) -> None:
        remove_sorted(self._incidents, (incident.time, incident.incident_id))
        del self._incident[incident.incident_id]
        self._after_incident_change(incident)

    def add_sanction(self, fact: Fact, membership_ids: tuple[str, ...]) -> None:
        key = fact.order
        bisect.insort(self._sanctions, key)
        self._sanction[key] = (fact, membership_ids)
        named = self._named_incident(fact)
        if named is not None:
            self._naming.setdefault(named, set()).add(key)
        self._relink(key)

    def remove_sanction(self, fact: Fact) -> None:
        key = fact.order
        remove_sorted(self._sanctions, key)
        del self._sanction[key]
        named = self._named_incident(fact)
        if named is not None:
            self._naming[named].discard(key)
            if not self._naming[named]:
                del self._naming[named]
        self._unlink(key)

    def set_presentations(self, presentations: Iterable[Presentation]) -> None:
        """The held call-ins the group was invited to. A held call-in at time h can only change the
        presentation of cases whose first sanction lies between the previous held call-in and h."""
        new = sorted(presentations, key=_presentation_order)
        changed = set(new).symmetric_difference(self._presentations)
        union = sorted(set(new).union(self._presentations), key=_presentation_order)
        self._presentations = new
        for p in changed:
            before = bisect.bisect_left(union, p.held_time, key=_held_time) - 1
            lo = union[before].held_time if before >= 0 else None
            start = 0 if lo is None else bisect.bisect_left(self._by_first, lo, key=_time)
            stop = bisect.bisect_left(self._by_first, p.held_time, key=_time)
            self._dirty_cases.update(i for _, i in self._by_first[start:stop])

    # -- outputs ------------------------------------------------------------------------------------
    def settle(self) -> tuple[set[str], set[str], set[tuple[str, str]]]:
        """Rebuild the touched cases. Returns (cases created, changed or removed; incidents whose
        classification as case or unwarned violence may have changed; (source, sanction id) whose
        baseline link may have changed)."""
        changed = set()
        for incident_id in self._dirty_cases:
            case = self._build_case(incident_id) if self.is_case(incident_id) else None
            old = self._cases.get(incident_id)
            if case != old:
                changed.add(incident_id)
                if old is not None:
                    self._status_count[old.status] -= 1
                    if old.first_sanction_time is not None:
                        remove_sorted(self._by_first, (old.first_sanction_time, incident_id))
                if case is None:
                    del self._cases[incident_id]
                else:
                    self._cases[incident_id] = case
                    self._status_count[case.status] += 1
                    if case.first_sanction_time is not None:
                        bisect.insort(self._by_first, (case.first_sanction_time, incident_id))
        reclassified, baseline = self._reclassified, self._dirty_baseline
        self._dirty_cases, self._reclassified, self._dirty_baseline = set(), set(), set()
        return changed, reclassified, baseline

    def case(self, incident_id: str) -> CaseState | None:
        return self._cases.get(incident_id)

    def is_unwarned(self, incident_id: str) -> bool:
        return incident_id in self._incident and not self.is_case(incident_id)

    def incident_time(self, incident_id: str) -> datetime | None:
        incident = self._incident.get(incident_id)
        return None if incident is None else incident.time

    def baseline_link(self, source: str, sanction_id: str) -> SanctionLink | None:
        key = self._baseline_key.get((source, sanction_id))
        return None if key is None else self._link[key]

    def summary(self) -> GroupSummary:
        """The group's state without its cases, unwarned incidents and baseline links (published
        as records of their own): what it costs does not grow with the group's history (its parts
        are kept current, and the record is rebuilt only when one of them changed)."""
        if self._warning_entries is None:
            self._warning_entries = tuple(self._warning_entry[w.order] for w in self._warnings)
        warnings = self._warning_entries
        last = self._incidents[-1] if self._incidents else None
        counts = self._status_count
        parts = (self._registration, warnings, last, tuple(counts[status] for status in CaseStatus))
        if self._summary is None or self._summary[0] != parts:
            summary = make_group_summary(self.group_id, self._registration, warnings, counts, last)
            self._summary = (parts, summary)
        return self._summary[1]

    def unwarned(self) -> Iterable[str]:
        return (i for _, i in self._incidents[:self._first_case_index()])

    def state(self) -> GroupState:
        """The group's whole state (cached until the next change)."""
        if self._state is None:
            cases = [self._cases[i] for _, i in self._incidents[self._first_case_index():]]
            self._state = make_group_state(
                self.group_id, self._registration, self._warnings, cases, self.unwarned(),
                [self._link[k] for k in self._baseline])
        return self._state

    # -- the rules, locally -------------------------------------------------------------------------
    def _is_case_time(self, incident_time: datetime) -> bool:
        """Rule 3: whether an incident of the group at `incident_time` is a case (it has a warning)."""
        return case_warning(incident_time, self._warnings) is not None

    def _first_case_index(self) -> int:
        """Where the cases begin among the group's incidents: `case_warning` gives a warning to just
        the incidents at or after the earliest warning, so the cases are a suffix."""
        ws = self.warned_since
        if ws is None:
            return len(self._incidents)
        return bisect.bisect_left(self._incidents, ws, key=_time)

    def _after_warning_change(self, old: datetime | None, time: datetime) -> None:
        self._state = None
        new = self.warned_since
        nxt = bisect.bisect_right(self._warnings, time, key=_fact_time)
        until = self._warnings[nxt].time if nxt < len(self._warnings) else None
        self._mark_cases(time, until)
        if old == new:
            return
        lo = min(t for t in (old, new) if t is not None)
        hi = None if old is None or new is None else max(old, new)
        start = bisect.bisect_left(self._incidents, lo, key=_time)
        stop = len(self._incidents) if hi is None else bisect.bisect_left(self._incidents, hi, key=_time)
        for _, incident_id in self._incidents[start:stop]:
            self._reclassified.add(incident_id)
            self._dirty_cases.add(incident_id)
            self._relink_all(self._naming.get(incident_id, ()))
        if hi is None:
            self._relink_all(self._sanctions[bisect.bisect_left(self._sanctions, lo, key=_time):])
        else:
            self._relink_range(lo, hi)

    def _after_incident_change(self, incident: Incident) -> None:
        self._state = None
        self._reclassified.add(incident.incident_id)
        self._dirty_cases.add(incident.incident_id)
        if self._is_case_time(incident.time):
            self._relink_all(self._naming.get(incident.incident_id, ()))
            self._relink_range(incident.time, incident.time)

    def _relink_range(self, lo: datetime, hi: datetime) -> None:
        """Relink the sanctions whose latest case can have changed, when cases in [lo, hi] did:
        those at or after `lo`, before the next case after `hi`, and within the window of `hi`."""
        nxt = bisect.bisect_right(self._incidents, hi, key=_time)
        start = bisect.bisect_left(self._sanctions, lo, key=_time)
        if nxt < len(self._incidents):
            stop = bisect.bisect_left(self._sanctions, self._incidents[nxt][0], key=_time)
        else:
            stop = bisect.bisect_right(self._sanctions, hi + self._window, key=_time)
        self._relink_all(self._sanctions[start:stop])

    def _mark_cases(self, lo: datetime, until: datetime | None) -> None:
        start = bisect.bisect_left(self._incidents, lo, key=_time)
        stop = (len(self._incidents) if until is None
                else bisect.bisect_left(self._incidents, until, key=_time))
        self._dirty_cases.update(i for _, i in self._incidents[start:stop])

    def _relink_all(self, keys: Iterable[OrderKey]) -> None:
        for key in list(keys):
            self._relink(key)

    def _decide(self, fact: Fact) -> Target:
        """Rule 5 for this group."""
        return link_target(self._named_incident(fact), self.is_case, self._incidents, fact.time,
                           self._window_days, self._first_case_index())

    def _relink(self, key: OrderKey) -> None:
        fact, membership_ids = self._sanction[key]
        target = self._decide(fact)
        if self._target.get(key) == target:
            return
        self._unlink(key)
        self._target[key] = target
        self._link[key] = make_link(fact, target[1], membership_ids)
        incident_id = target[0]
        if incident_id is None:
            bisect.insort(self._baseline, key)
            self._baseline_key[(key[2], key[1])] = key
            self._dirty_baseline.add((key[2], key[1]))
            self._state = None
        else:
            bisect.insort(self._case_links.setdefault(incident_id, []), key)
            self._dirty_cases.add(incident_id)

    def _unlink(self, key: OrderKey) -> None:
        target = self._target.pop(key, None)
        self._link.pop(key, None)
        if target is None:
            return
        incident_id = target[0]
        if incident_id is None:
            remove_sorted(self._baseline, key)
            if self._baseline_key.get((key[2], key[1])) == key:
                del self._baseline_key[(key[2], key[1])]
            self._dirty_baseline.add((key[2], key[1]))
            self._state = None
        else:
            links = self._case_links[incident_id]
            remove_sorted(links, key)
            if not links:
                del self._case_links[incident_id]
            self._dirty_cases.add(incident_id)

    def _build_case(self, incident_id: str) -> CaseState:
        self._state = None
        incident = self._incident[incident_id]
        warning = case_warning(incident.time, self._warnings)
        assert warning is not None, "only a case is built"
        links = [self._link[k] for k in self._case_links.get(incident_id, ())]
        shown = presenting_call_in(links, self._presentations)
        return make_case(incident, warning, links, shown)

    @staticmethod
    def _named_incident(fact: Fact) -> str | None:
        assert isinstance(fact.data, SanctionRecorded)
        return fact.data.incident_id
