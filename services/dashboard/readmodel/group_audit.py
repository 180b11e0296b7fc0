"""The group audit (issue 21): the membership assessments by group, those about to expire, the
relations between groups, and the sanctions that matched no group.

Pure: facts and records in, views out; `now` is an argument. The rules' own definitions are used, not
re-implemented: an assessment holds from `valid_from` (inclusive) until `valid_until` (exclusive,
`rules.membership_valid_at`), and for each pair of groups the latest relation event, by (time, id,
source), is the one that holds (as `derive` reads conflicts for retaliation alerts).

* **Memberships**: the assessments not yet expired at `now` (current ones and those that start
  later), by group, person, then expiry. They hold person references and evidence: only roles that
  may see person references are shown them; the others get `GroupCounts`.
* **Expiring**: a (person, group) whose *latest* unexpired assessment ends within the next `days`
  Swedish calendar days: its last valid moment falls on or before the end of the Europe/Stockholm
  day `days` days after today's (so `valid_until` at or before the midnight that starts the day
  after). A person re-assessed with a later expiry is not expiring.
* **Relations**: per unordered pair of groups, the relation that holds: the latest relation event
  (`gvi.group.relation.recorded.v1` or `.ended.v1`), unless it is an end (`rules.relation_holding`,
  which the rules' `in_conflict` reads too).
* **Unmatched sanctions**: the processor's `UnresolvedSanction` records (a sanction that named only a
  person with no membership valid at its time). They carry no person reference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from services.contracts.events import GroupRelationEnded, GroupRelationRecorded, MembershipAssessed
from services.contracts.group_state import UnresolvedSanction
from services.dashboard.readmodel.stats import STOCKHOLM
from services.followthrough import Fact, FactKey, relation_holding

__all__ = [
    "EXPIRY_DAYS",
    "GroupAudit",
    "GroupCounts",
    "MembershipRow",
    "RelationRow",
    "UnmatchedSanction",
    "audit_document",
    "current_memberships",
    "current_relations",
    "expiring_memberships",
    "expiry_horizon",
    "group_audit",
    "group_counts",
    "stockholm_date",
    "unmatched_sanctions",
]

EXPIRY_DAYS = 30
"""How far ahead the audit looks for assessments about to expire, in Swedish calendar days."""


@dataclass(frozen=True, slots=True)
class MembershipRow:
    """One membership assessment (person-level data)."""

    event_id: str
    source: str
    group_id: str
    person_ref: str
    valid_from: datetime
    valid_until: datetime
    evidence: str
    source_grade: str
    assessed_at: datetime
    erased: bool = False
    """Shown to a reader only: the person's key was shredded, so neither the reference nor the
    evidence can be shown (both are then empty; `services.dashboard.reveal`)."""


@dataclass(frozen=True, slots=True)
class GroupCounts:
    """What a role that may not see person references sees of a group's memberships."""

    group_id: str
    current: int
    """People with an assessment valid at `now`."""
    expiring: int
    """People whose latest assessment in the group expires within the window."""


@dataclass(frozen=True, slots=True)
class RelationRow:
    group_id: str
    other_group_id: str
    """The pair in id order (`group_id` < `other_group_id`)."""
    relation: str
    since: datetime
    event_id: str


@dataclass(frozen=True, slots=True)
class UnmatchedSanction:
    sanction_id: str
    source: str
    agency: str
    kind: str
    time: datetime
    incident_id: str | None
    reason: str


def stockholm_date(instant: datetime) -> date:
    return instant.astimezone(STOCKHOLM).date()


def expiry_horizon(now: datetime, days: int = EXPIRY_DAYS) -> datetime:
    """The midnight (Europe/Stockholm) that starts the day `days + 1` days after today's: an
    assessment whose `valid_until` is after `now` and at or before it expires within the window."""
    last_day = stockholm_date(now) + timedelta(days=days + 1)
    return datetime.combine(last_day, time(0), tzinfo=STOCKHOLM)


def _row(fact: Fact) -> MembershipRow:
    data = fact.data
    assert isinstance(data, MembershipAssessed)
    return MembershipRow(fact.id, fact.source, data.group_id, data.person_ref, data.valid_from,
                         data.valid_until, data.evidence, data.source_grade.value, fact.time)


def current_memberships(memberships: Iterable[Fact], now: datetime) -> dict[str, list[MembershipRow]]:
    """The assessments not expired at `now`, by group id (sorted), each group's by person, expiry."""
    out: dict[str, list[MembershipRow]] = defaultdict(list)
    for fact in memberships:
        if isinstance(fact.data, MembershipAssessed) and fact.data.valid_until > now:
            out[fact.data.group_id].append(_row(fact))
    return {g: sorted(out[g], key=lambda r: (r.person_ref, r.valid_until, r.event_id)) for g in sorted(out)}


def expiring_memberships(memberships: Iterable[Fact], now: datetime,
                         days: int = EXPIRY_DAYS) -> list[MembershipRow]:
    """For each (person, group), its latest unexpired assessment if that ends within the window
    (see the module docstring); soonest first."""
    horizon = expiry_horizon(now, days)
    last: dict[tuple[str, str], MembershipRow] = {}
    for rows in current_memberships(memberships, now).values():
        for row in rows:
            pair = (row.person_ref, row.group_id)
            if pair not in last or row.valid_until > last[pair].valid_until:
                last[pair] = row
    return sorted((r for r in last.values() if r.valid_until <= horizon),
                  key=lambda r: (r.valid_until, r.group_id, r.person_ref))


def group_counts(memberships: Iterable[Fact], now: datetime,
                 days: int = EXPIRY_DAYS) -> list[GroupCounts]:
    """Per group: how many people are assessed members at `now`, and how many of those (or of the
    people assessed from later on) have their latest assessment expire within the window."""
    facts = list(memberships)
    current: dict[str, set[str]] = defaultdict(set)
    for rows in current_memberships(facts, now).values():
        for row in rows:
            if row.valid_from <= now:
                current[row.group_id].add(row.person_ref)
    expiring: dict[str, int] = defaultdict(int)
    for row in expiring_memberships(facts, now, days):
        expiring[row.group_id] += 1
    return [GroupCounts(g, len(current.get(g, ())), expiring.get(g, 0))
            for g in sorted(set(current) | set(expiring))]


def current_relations(relations: Iterable[Fact]) -> list[RelationRow]:
    """Per unordered pair of groups the relation that holds (the latest relation event, unless it
    ended the relation), sorted by pair."""
    by_pair: dict[tuple[str, str], list[Fact]] = defaultdict(list)
    for fact in relations:
        if isinstance(fact.data, GroupRelationRecorded | GroupRelationEnded):
            a, b = sorted((fact.data.group_id, fact.data.other_group_id))
            by_pair[(a, b)].append(fact)
    out = []
    for (a, b), facts in sorted(by_pair.items()):
        found = relation_holding(facts)
        if found is not None and isinstance(found.data, GroupRelationRecorded):
            out.append(RelationRow(a, b, found.data.relation.value, found.time, found.id))
    return out


def unmatched_sanctions(unresolved: Mapping[FactKey, UnresolvedSanction]) -> list[UnmatchedSanction]:
    """The processor's unresolved sanctions, newest first."""
    rows = [UnmatchedSanction(u.sanction_id, u.source, u.source.rstrip("/").rsplit("/", 1)[-1], u.kind,
                              u.time, u.incident_id, u.reason) for u in unresolved.values()]
    return sorted(rows, key=lambda r: (r.time, r.sanction_id, r.source), reverse=True)


@dataclass(frozen=True, slots=True)
class GroupAudit:
    """What the group audit page and API show. `memberships` and `expiring` are empty unless the
    reader may see person references (`people`)."""

    as_of: datetime
    expiring_until: datetime
    people: bool
    counts: tuple[GroupCounts, ...]
    memberships: tuple[tuple[str, tuple[MembershipRow, ...]], ...]
    expiring: tuple[MembershipRow, ...]
    relations: tuple[RelationRow, ...]
    unmatched: tuple[UnmatchedSanction, ...]


def group_audit(memberships: Iterable[Fact], relations: Iterable[Fact],
                unresolved: Mapping[FactKey, UnresolvedSanction], now: datetime, *, people: bool,
                group_id: str | None = None, days: int = EXPIRY_DAYS) -> GroupAudit:
    """The audit as of `now`; only `group_id`'s memberships and relations when given (the unmatched
    sanctions belong to no group and are always listed)."""
    facts = [f for f in memberships
             if group_id is None or (isinstance(f.data, MembershipAssessed) and f.data.group_id == group_id)]
    pairs = [r for r in current_relations(relations) if group_id in (None, r.group_id, r.other_group_id)]
    return GroupAudit(
        as_of=now, expiring_until=expiry_horizon(now, days), people=people,
        counts=tuple(group_counts(facts, now, days)),
        memberships=tuple((g, tuple(rows)) for g, rows in current_memberships(facts, now).items())
        if people else (),
        expiring=tuple(expiring_memberships(facts, now, days)) if people else (),
        relations=tuple(pairs), unmatched=tuple(unmatched_sanctions(unresolved)))


def _membership_json(row: MembershipRow) -> dict[str, Any]:
    return {"event_id": row.event_id, "source": row.source, "group_id": row.group_id,
            "person_ref": None if row.erased else row.person_ref, "erased": row.erased,
            "valid_from": row.valid_from.isoformat(), "valid_until": row.valid_until.isoformat(),
            "evidence": None if row.erased else row.evidence,
            "source_grade": row.source_grade, "assessed_at": row.assessed_at.isoformat()}


def audit_document(audit: GroupAudit, names: Mapping[str, str | None]) -> dict[str, Any]:
    """The audit as JSON for scripts (raw values, as the rest of the API); person-level keys only
    when `audit.people`."""
    doc: dict[str, Any] = {
        "as_of": audit.as_of.isoformat(), "expiring_until": audit.expiring_until.isoformat(),
        "groups": [{"group_id": c.group_id, "name": names.get(c.group_id), "current_members": c.current,
                    "expiring_within_window": c.expiring} for c in audit.counts],
        "relations": [{"group_id": r.group_id, "other_group_id": r.other_group_id, "relation": r.relation,
                       "since": r.since.isoformat(), "event_id": r.event_id} for r in audit.relations],
        "unmatched_sanctions": [{"sanction_id": u.sanction_id, "source": u.source, "agency": u.agency,
                                 "kind": u.kind, "time": u.time.isoformat(), "incident_id": u.incident_id,
                                 "reason": u.reason} for u in audit.unmatched],
    }
    if audit.people:
        doc["memberships"] = [_membership_json(r) for _, rows in audit.memberships for r in rows]
        doc["expiring"] = [_membership_json(r) for r in audit.expiring]
    return doc
