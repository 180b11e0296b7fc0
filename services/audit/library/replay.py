"""`gvi-audit replay`: every group's state from the source topics alone, by the processor's own rules.

Each committed record of the source topics becomes a `Fact` (with its topic, partition and offset),
and `derive` (the reference the processor's incremental `Ledger` is tested against) gives the
groups; `states_document` prints them, which is what the live view prints for the same events.

Reconstructing a date (docs/security.md, "Reconstructing what was known"):

* `known_at` T2: only events the intake had accepted by T2 (`recordedtime <= T2`), retractions
  included: what the partnership *knew* on T2.
* `as_of` T: of those, only events that *happened* by T (`time <= T`). A retraction is not an event
  in the world but a correction of the record: it withdraws its target whatever its own `time`, as
  soon as it is known. An attribution is a review made at its own `time`, so a review made after T
  is not part of "as of T".

With neither, every event counts: the processor's current state.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.audit.library.decoding import decode_value
from services.audit.library.kafka_log import LogReader, Progress
from services.audit.library.readers import FactBatch
from services.contracts import RETRACTION_TYPE
from services.contracts.group_state_records import StateView, states_document
from services.followthrough import Derived, Fact, derive, group_states

__all__ = ["Cut", "ReplayStats", "bulk", "decode_fact", "first_difference", "live_document",
           "read_facts", "replay_document", "replay_facts", "state_lines"]


@dataclass(frozen=True, slots=True)
class Cut:
    """Which events a replay uses: `as_of` on `time`, `known_at` on `recordedtime` (None: no limit)."""

    as_of: datetime | None = None
    known_at: datetime | None = None

    def admits(self, fact: Fact) -> bool:
        if self.known_at is not None and (fact.recordedtime is None or fact.recordedtime > self.known_at):
            return False
        return self.as_of is None or fact.type == RETRACTION_TYPE or fact.time <= self.as_of


@dataclass
class ReplayStats:
    records: int = 0
    events: int = 0
    invalid: int = 0
    not_yet_known: int = 0
    not_yet_happened: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


def decode_fact(record: Any) -> Fact | None:
    """A committed source record (with `value`, `topic`, `partition`, `offset`) as a fact; see
    `decoding.decode_value`."""
    return decode_value(record.value, record.topic, record.partition, record.offset)


@contextmanager
def bulk() -> Iterator[None]:
    """No cyclic garbage collection while a log is loaded and replayed: facts make no cycles, and
    the collector would otherwise walk the millions of them again and again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_facts(batches: Iterable[FactBatch], cut: Cut, stats: ReplayStats) -> Iterator[Fact]:
    """The facts in `batches` (see `readers.read_batches`) that `cut` admits, counted in `stats`.
    Every type, those no rule reads included: copies are told apart by (source, id) whatever their
    type, as the processor's ledger does, so an agency that gave a support offer and a sanction
    the same id gets the same answer from both."""
    every = cut.as_of is None and cut.known_at is None
    for topic, _, _, facts in batches:
        stats.records += len(facts)
        stats.by_topic[topic] = stats.by_topic.get(topic, 0) + len(facts)
        if every:  # no time cut: only what is not an event is left out
            kept = [fact for fact in facts if fact is not None]
            stats.invalid += len(facts) - len(kept)
            stats.events += len(kept)
            yield from kept
            continue
        for fact in facts:
            if fact is None:
                stats.invalid += 1
                continue
            if not cut.admits(fact):
                if Cut(known_at=cut.known_at).admits(fact):
                    stats.not_yet_happened += 1
                else:
                    stats.not_yet_known += 1
                continue
            stats.events += 1
            yield fact


def replay_facts(facts: Iterable[Fact], *, window_days: int) -> Derived:
    """The rules' groups and unresolved sanctions for `facts` (no alerts: the audit prints none)."""
    return derive(facts, window_days=window_days, alerts=False)


def state_lines(facts: Iterable[Fact], *, window_days: int) -> Iterator[bytes]:
    """`states_document(replay_facts(facts).groups)`, one group's line at a time; the last item is the
    number of groups as ASCII digits. The groups are computed by the same `derive` code
    (`group_states`), one after the other, so that only one group's state is ever
    held: a year of a city's log makes a states document of hundreds of megabytes."""
    states = group_states(facts, window_days=window_days)
    del facts  # only `group_states` holds them now: what does not count can go
    count = 0
    for state in states:
        count += 1
        yield state.to_json() + b"\n"
    yield str(count).encode()


def replay_document(derived: Derived) -> bytes:
    return states_document(derived.groups)


def live_document(reader: LogReader, topic: str, *, progress: Progress | None = None) -> bytes:
    """The processor's current group states, read from its compacted `group-state` topic."""
    view = StateView()
    for batch in reader.read_topics([topic], progress=progress):
        for record in batch:
            view.apply(record.key, record.value)
    return states_document(view.groups())


def first_difference(replayed: bytes, live: bytes) -> str | None:
    """Which group differs first between two states documents (None: byte-identical)."""
    if replayed == live:
        return None
    ours = {_group_id(line): line for line in replayed.splitlines()}
    theirs = {_group_id(line): line for line in live.splitlines()}
    for group_id in sorted(ours.keys() | theirs.keys()):
        if group_id not in theirs:
            return f"group {group_id} is in the replay but not in the live view"
        if group_id not in ours:
            return f"group {group_id} is in the live view but not in the replay"
        if ours[group_id] != theirs[group_id]:
            return f"group {group_id} differs between the replay and the live view"
    return "the documents differ in their bytes but not by group"


def _group_id(line: bytes) -> str:
    value = json.loads(line).get("group_id")
    return value if isinstance(value, str) else ""
