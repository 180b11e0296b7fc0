"""Replay in shards: the rules' group states computed in several pieces that give one document.

A *shard* holds the records of some partitions. The intake keys every event so that what the
rules join on stays in one partition: the copies of an event and its retractions share its key,
an incident's report and attributions share `incident:<id>`, a call-in's events `call-in:<id>`,
and a group's registrations, warnings and sanctions the group's id. So a shard can settle on its
own which copy of an event counts, what is retracted, how each incident is currently attributed
and which call-ins were held (`Shard`, with `derive`'s own `effective_facts` and `joined`). Only
two things cross shards:

* memberships: a sanction naming only a person is resolved through every membership of that
  person, wherever it was recorded, and every `left_group` exit milestone that ends one (rule 4),
  so every shard's memberships and those milestones go to every shard;
* each group's parts (registrations, warnings, confirmed incidents suspecting it, its sanctions
  and the call-ins that presented it) go to the one shard that owns the group (`owner`), which
  computes its state exactly as `gather` would have (`group_lines`).

Whether the log keeps to that keying is checked, not trusted: `ShardCheck` summarises each shard
(hashes of its events' (source, id), of its retractions' targets, of its incidents' and call-ins'
ids) and `disagreement` names the first thing found in more than one shard. The caller then
replays in one piece instead: the same answer, only slower. Hashes are compared, so every shard
must hash alike (one hash seed: `sharding` forks them from one server process); a collision can
only cause that fallback, never a wrong state.
"""

from __future__ import annotations

import marshal
import pickle
import zlib
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, cast

from services.audit.decoding import from_time_state, plain_form, time_state, unpacked
from services.contracts import RETRACTION_TYPE
from services.contracts.events import (
    CallInHeld,
    CallInScheduled,
    EventRetracted,
    ExitMilestoneV2,
    IncidentAttributed,
    IncidentReported,
    MembershipAssessed,
)
from services.sanctions.domain import Fact
from services.sanctions.domain.derive import Inputs, by_data_type, current_incidents, effective_facts, joined
from services.sanctions.domain.records import key_partition
from services.sanctions.domain.rules import Incident, group_set, is_empty, left_group_of
from services.sanctions.domain.state import Presentation

__all__ = ["GroupParts", "Shard", "ShardCheck", "decode_facts", "decode_parts", "disagreement",
           "encode_facts", "encode_parts", "group_lines", "owner_function"]


@dataclass(slots=True)
class GroupParts:
    """What one shard knows of one group: the parts of `Inputs` for it."""

    registrations: list[Fact] = field(default_factory=list)
    warnings: list[Fact] = field(default_factory=list)
    suspected: list[Incident] = field(default_factory=list)
    sanctions: list[tuple[Fact, tuple[str, ...]]] = field(default_factory=list)
    presentations: list[Presentation] = field(default_factory=list)


_ORDER = attrgetter("time", "id", "source")
"""(time, id, source): the order `effective_facts` gives, which `joined` keeps in each list."""


def owner_function(shards: int, partitions: int | None) -> Callable[[str], int]:
    """Which shard computes a group. With `partitions` (every source topic has that many, and
    shard s reads partition number p when p % shards == s), the shard that reads the group's own
    partition, so that its registrations, warnings and sanctions naming it are already there;
    otherwise any fixed spread."""
    if partitions:
        return lambda group_id: key_partition(group_id.encode(), partitions) % shards
    return lambda group_id: zlib.crc32(group_id.encode()) % shards


@dataclass(frozen=True, slots=True)
class ShardCheck:
    """A shard's summary for `disagreement`: hashes of its events' (source, id), of its
    retractions' targets, and of the ids of its incidents' and call-ins' events."""

    keys: bytes
    targets: bytes
    incidents: bytes
    call_ins: bytes

    @classmethod
    def of(cls, facts: Iterable[Fact]) -> ShardCheck:
        keys, targets, incidents, call_ins = array("q"), array("q"), array("q"), array("q")
        for f in facts:
            keys.append(hash((f.source, f.id)))
            data = f.data
            kind = type(data)
            if kind is IncidentReported or kind is IncidentAttributed:
                incidents.append(hash(cast(IncidentReported, data).incident_id))
            elif f.type == RETRACTION_TYPE and kind is EventRetracted:
                targets.append(hash((f.source, cast(EventRetracted, data).retracted_event_id)))
            elif kind is CallInScheduled or kind is CallInHeld:
                call_ins.append(hash(cast(CallInScheduled, data).call_in_id))
        return cls(keys.tobytes(), targets.tobytes(), incidents.tobytes(), call_ins.tobytes())


def _hashes(data: bytes) -> array[int]:
    values = array("q")
    values.frombytes(data)
    return values


def disagreement(checks: Sequence[ShardCheck]) -> str | None:
    """None if no event, retraction target, incident or call-in is in more than one shard (each
    shard then settles its own); otherwise what was found in two. (One shard's hashes of one kind
    as a set at a time, some 25 MB for a third of a million events, compared with the others'
    arrays; the last shard's events are never a set.)"""
    misplaced = "a retraction in another partition than the event it retracts"
    for i, check in enumerate(checks[:-1]):
        mine = set(_hashes(check.keys))
        if any(not mine.isdisjoint(_hashes(other.keys)) for other in checks[i + 1:]):
            return "an event (source and id) in more than one partition"
        # no event is in two shards (the pairs with the shards before were checked before): a
        # retraction elsewhere that names one of these events names one not in its own shard
        if any(not mine.isdisjoint(_hashes(other.targets)) for j, other in enumerate(checks) if j != i):
            return misplaced
        del mine
    if checks:  # the last shard's events: the others' targets (a few) as a set, its events walked
        elsewhere = {target for other in checks[:-1] for target in _hashes(other.targets)}
        if elsewhere and not elsewhere.isdisjoint(_hashes(checks[-1].keys)):
            return misplaced
    for what, name in (("incidents", "an incident's events"), ("call_ins", "a call-in's events")):
        for i, check in enumerate(checks[:-1]):
            mine = set(_hashes(getattr(check, what)))
            if any(not mine.isdisjoint(_hashes(getattr(other, what))) for other in checks[i + 1:]):
                return f"{name} in more than one partition"
            del mine
    return None


class Shard:
    """One shard's facts, settled: copies chosen, retractions applied, sorted out by type, and its
    incidents as currently attributed (their reports and attributions are then let go: some 40%
    of the facts, which the groups' parts never hold)."""

    def __init__(self, facts: Iterable[Fact]) -> None:
        self.by_type = by_data_type(effective_facts(facts))
        self.incidents = current_incidents(self.by_type.pop(IncidentReported, []),
                                           self.by_type.pop(IncidentAttributed, []))

    def memberships(self) -> list[Fact]:
        """The memberships, and the `left_group` exit milestones that end them (rule 4): what every
        other shard needs to resolve its sanctions naming a person."""
        return [*self.by_type.get(MembershipAssessed, []),
                *(f for f in self.by_type.get(ExitMilestoneV2, []) if left_group_of(f) is not None)]

    def parts(self, memberships: Iterable[Fact],
              owner: Callable[[str], int]) -> dict[int, dict[str, GroupParts]]:
        """Each owner's parts of its groups from this shard, sanctions naming a person resolved
        through `memberships` (every shard's)."""
        inputs = joined(self.by_type, memberships, self.incidents)
        out: dict[int, dict[str, GroupParts]] = defaultdict(dict)

        def parts_of(group_id: str) -> GroupParts:
            mine = out[owner(group_id)]
            found = mine.get(group_id)
            if found is None:
                found = mine[group_id] = GroupParts()
            return found

        for group_id, facts in inputs.registrations.items():
            parts_of(group_id).registrations = facts
        for group_id, facts in inputs.warnings.items():
            parts_of(group_id).warnings = facts
        for group_id, incidents in inputs.suspected.items():
            parts_of(group_id).suspected = incidents
        for group_id, sanctions in inputs.sanctions.items():
            parts_of(group_id).sanctions = sanctions
        for group_id, shows in inputs.presentations.items():
            parts_of(group_id).presentations = shows
        return dict(out)


def group_lines(pieces: Iterable[dict[str, GroupParts]], window_days: int) -> Iterator[tuple[str, bytes]]:
    """(group id, its line of the states document) for every group in `pieces` (each shard's
    parts of the groups this shard owns) that has a state, in group id order: what `state_lines`
    gives for these groups from the whole log."""
    merged: dict[str, GroupParts] = {}
    several: set[str] = set()
    for piece in pieces:
        for group_id, parts in piece.items():
            have = merged.get(group_id)
            if have is None:
                merged[group_id] = parts
                continue
            several.add(group_id)
            have.registrations = have.registrations + parts.registrations
            have.warnings = have.warnings + parts.warnings
            have.suspected = have.suspected + parts.suspected
            have.sanctions = have.sanctions + parts.sanctions
            have.presentations = have.presentations + parts.presentations
    for group_id in several:  # back in (time, id, source) order, as `joined` keeps each list
        parts = merged[group_id]
        parts.warnings.sort(key=_ORDER)
        parts.sanctions.sort(key=lambda entry: _ORDER(entry[0]))
    for group_id in sorted(merged):
        parts = merged.pop(group_id)
        inputs = Inputs({group_id: parts.registrations}, {group_id: parts.warnings},
                        {group_id: parts.suspected}, {group_id: parts.sanctions},
                        {group_id: parts.presentations}, {}, [], [])
        state = inputs.group_state(group_id, window_days)
        if not is_empty(state):
            yield group_id, state.to_json() + b"\n"


# How facts and parts travel between processes: plain values for `marshal` (see `decoding`).

def _fact_item(fact: Fact) -> tuple[Any, ...]:
    plain = plain_form(fact)
    where = (fact.topic, fact.partition, fact.offset)
    if plain is None:  # a payload the plain form does not carry: pickled, as `pickle` rebuilds it
        return (None, pickle.dumps(fact, protocol=pickle.HIGHEST_PROTOCOL), *where)
    return (plain, None, *where)


def _fact_of(item: tuple[Any, ...]) -> Fact:
    plain, pickled, topic, partition, offset = item
    if plain is None:
        # our own worker's bytes, over its own pipe: nothing else writes there
        return cast(Fact, pickle.loads(pickled))  # noqa: S301
    fact = unpacked(plain, topic, partition, offset)
    assert fact is not None
    return fact


def encode_facts(facts: Iterable[Fact]) -> bytes:
    return marshal.dumps([_fact_item(f) for f in facts])


def decode_facts(data: bytes) -> list[Fact]:
    return [_fact_of(item) for item in marshal.loads(data)]  # noqa: S302 (our own worker's bytes)


def _incident_item(inc: Incident) -> tuple[Any, ...]:
    return (inc.incident_id, time_state(inc.time), inc.report_id, inc.attribution_id, inc.confirmed,
            tuple(sorted(inc.suspected)), tuple(sorted(inc.victims)))


def _incident_of(item: tuple[Any, ...]) -> Incident:
    incident_id, time, report_id, attribution_id, confirmed, suspected, victims = item
    when = from_time_state(time)
    assert when is not None
    return Incident(incident_id, when, report_id, attribution_id, confirmed, group_set(suspected),
                    group_set(victims))


def _show_item(show: Presentation) -> tuple[Any, ...]:
    return (show.call_in_id, show.held_id, time_state(show.held_time), show.scheduled_id)


def _show_of(item: tuple[Any, ...]) -> Presentation:
    call_in_id, held_id, held_time, scheduled_id = item
    return Presentation(call_in_id=call_in_id, held_id=held_id, held_time=from_time_state(held_time),
                        scheduled_id=scheduled_id)


def encode_parts(parts: dict[str, GroupParts]) -> bytes:
    return marshal.dumps({
        group_id: ([_fact_item(f) for f in p.registrations], [_fact_item(f) for f in p.warnings],
                   [_incident_item(i) for i in p.suspected],
                   [(_fact_item(f), ids) for f, ids in p.sanctions], [_show_item(s) for s in p.presentations])
        for group_id, p in parts.items()})


def decode_parts(data: bytes) -> dict[str, GroupParts]:
    out = {}
    for group_id, (registrations, warnings, suspected, sanctions, shows) in marshal.loads(data).items():  # noqa: S302
        out[group_id] = GroupParts([_fact_of(i) for i in registrations], [_fact_of(i) for i in warnings],
                                   [_incident_of(i) for i in suspected],
                                   [(_fact_of(i), tuple(ids)) for i, ids in sanctions],
                                   [_show_of(i) for i in shows])
    return out
