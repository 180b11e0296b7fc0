"""The rules' one input: a `Fact`, an accepted event as the log holds it, with where it was read.

Every consumer of the rules (the stream processor, the replay tool, the tests) turns what it reads into
facts, so that they all feed the same functions. Facts are identified by (`source`, `id`): an agency's
event ids are its own, so two agencies may reuse an id without colliding, and re-sending the same
event is a harmless repeat. Provenance (`topic`, `partition`, `offset`) is carried for the explain tool
and never affects a derived state.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from services.contracts import RETRACTION_TYPE, CloudEvent, canonical_json
from services.contracts.events import EventData, EventRetracted

__all__ = ["Fact", "FactKey", "OrderKey", "as_fact", "preferred", "retraction_target"]

FactKey = tuple[str, str]
"""(source, id): how events are deduplicated and how a retraction names its target."""

OrderKey = tuple[datetime, str, str]
"""(time, id, source): the order of events in the world; ties on time are broken by id (then by
source, only so that two agencies' events with the same id still have a total order)."""


class Fact(NamedTuple):
    """An accepted event, reduced to what the rules and the explain tool need (immutable, with
    equality and hashing by value)."""

    source: str
    id: str
    type: str
    time: datetime
    data: EventData
    recordedtime: datetime | None = None
    agency: str | None = None
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None

    @classmethod
    def from_event(cls, event: CloudEvent, *, topic: str | None = None, partition: int | None = None,
                   offset: int | None = None) -> Fact:
        return cls(event.source, event.id, event.type, event.time, event.data, event.recordedtime,
                   event.agency, topic, partition, offset)

    @property
    def key(self) -> FactKey:
        return (self.source, self.id)

    @property
    def order(self) -> OrderKey:
        return (self.time, self.id, self.source)

    def content(self) -> bytes:
        """Canonical bytes of what the agency said: equal for two copies of the same event."""
        return canonical_json(_content_dict(self))

    def same_content(self, other: Fact) -> bool:
        return (self.type == other.type and self.time == other.time and self.data == other.data)


def _content_dict(fact: Fact) -> dict[str, Any]:
    return {"source": fact.source, "id": fact.id, "type": fact.type, "time": fact.time.isoformat(),
            "data": fact.data.model_dump(mode="json")}


def as_fact(item: CloudEvent | Fact) -> Fact:
    return item if isinstance(item, Fact) else Fact.from_event(item)


def _preference(fact: Fact) -> tuple[Any, ...]:
    return (fact.recordedtime is None, fact.recordedtime.isoformat() if fact.recordedtime else "",
            fact.content(), fact.topic or "", fact.partition if fact.partition is not None else -1,
            fact.offset if fact.offset is not None else -1)


def preferred(a: Fact, b: Fact) -> Fact:
    """Which of two copies of the same (source, id) counts: the one accepted first (then the smaller
    canonical content, then the earlier log position). A total, order-free choice, so that the
    state never depends on which copy arrived first. Copies normally differ only in provenance."""
    return a if _preference(a) <= _preference(b) else b


def retraction_target(fact: Fact) -> FactKey | None:
    """The (source, id) a retraction withdraws: agencies retract only their own events, so the target
    is sought under the retraction's own source."""
    if fact.type == RETRACTION_TYPE and isinstance(fact.data, EventRetracted):
        return (fact.source, fact.data.retracted_event_id)
    return None
