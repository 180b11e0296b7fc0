"""Accepting events: the one use case of an intake service.

`Intake.submit` takes the raw events of one request from an authenticated agency and either
publishes all of the new ones (a batch in one Kafka transaction) or refuses the request whole with
an `IntakeError`. The checks run in the order a client would fix them: contract (422), service
ownership (400), role and source (403), id reuse (409); only then is anything published. What is
published is sealed: the persons the events name are pseudonyms in Kafka, their clear values
encrypted with each person's key (`services.privacy`).

An id is unique per source across all intakes (CloudEvents' (`source`, `id`)): the ledger holds the
receipts of every source topic, so an id that the same agency already used at another intake is
refused (409) even though it is new here, and a retraction names the one event of its id, at the
intake that accepted it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.contracts import (
    RETRACTION_TYPE,
    CloudEvent,
    EventInvalid,
    FieldError,
    Service,
    owner_of,
    parse_event,
    partition_key,
)
from services.contracts.envelope import canonical_json, digest_of
from services.contracts.events import EventRetracted
from services.intake.agencies import Agency, qualifier_of
from services.intake.errors import (
    BrokerUnavailable,
    ClaimRaceLost,
    Conflict,
    Forbidden,
    IntakeError,
    InvalidEvent,
    WrongService,
)
from services.intake.ledger import Receipt, ReceiptLedger
from services.intake.metrics import IntakeMetrics
from services.intake.publishing import OutgoingRecord, Publisher
from services.privacy.claims import PersonKey
from services.privacy.sealing import person_refs, seal
from services.privacy.store import ClaimGate, KeyStore

__all__ = ["CONTENT_TYPE_HEADER", "DIGEST_HEADER", "Intake", "Outcome"]

log = logging.getLogger("gvi.intake")

CONTENT_TYPE_HEADER = ("content-type", b"application/cloudevents+json; charset=utf-8")
DIGEST_HEADER = "gvi-content-digest"


@dataclass(frozen=True, slots=True)
class Outcome:
    """`receipts[i]` answers `events[i]`; `duplicate[i]` says it had been accepted before."""

    receipts: list[Receipt]
    duplicate: list[bool]

    @property
    def anything_new(self) -> bool:
        return not all(self.duplicate)


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A valid event with what the intake computes once: its submitted form and content digest."""

    event: CloudEvent
    submitted: dict[str, Any]
    digest: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.event.source, self.event.id)

    @classmethod
    def of(cls, event: CloudEvent) -> _Candidate:
        submitted = event.submitted()
        return cls(event, submitted, digest_of(submitted))


def _as_sealed_for_placement(event: CloudEvent, keys: Mapping[str, PersonKey]) -> CloudEvent:
    """The event with its person named by pseudonym, as far as its Kafka key can depend on it: a
    sanction that names only a person is keyed by the person (`partition_key`), and in Kafka the
    person is the pseudonym, never the clear reference. (A person inside a list, a call-in's
    attendance, never decides the key.)"""
    person = getattr(event.data, "person_ref", None)
    if not isinstance(person, str) or person not in keys:
        return event
    data = event.data.model_copy(update={"person_ref": keys[person].pseudonym})
    return event.model_copy(update={"data": data})


def _prefixed(errors: Sequence[FieldError], index: int | None) -> list[FieldError]:
    if index is None:
        return list(errors)
    return [FieldError(f"[{index}].{e.field}", e.message) for e in errors]


class Intake:
    def __init__(self, *, service: Service, publisher: Publisher, ledger: ReceiptLedger, keys: KeyStore,
                 metrics: IntakeMetrics, clock: Callable[[], datetime]) -> None:
        self.service = service
        self._publisher = publisher
        self._keys = keys
        self._ledger = ledger
        self._metrics = metrics
        self._clock = clock

    async def submit(self, raw_events: Sequence[Any], agency: Agency, *, batch: bool) -> Outcome:
        try:
            candidates = self._validate(raw_events, batch)
            self._authorise([c.event for c in candidates], agency, batch)
            return await self._accept(candidates, agency, batch)
        except IntakeError as exc:
            self._metrics.rejected(raw_events, exc.code)
            exc.counted = True
            log.info("refused %d event(s) from %s: %s", len(raw_events), agency.name, exc.code)
            raise

    def _validate(self, raw_events: Sequence[Any], batch: bool) -> list[_Candidate]:
        candidates, errors = [], []
        for i, raw in enumerate(raw_events):
            try:
                candidates.append(_Candidate.of(parse_event(raw)))
            except EventInvalid as exc:
                errors += _prefixed(exc.errors, i if batch else None)
        if errors:
            raise InvalidEvent("the event does not match the contract; fix the fields listed "
                               "(see docs/events.md)", errors)
        first_seen: dict[tuple[str, str], _Candidate] = {}
        for i, candidate in enumerate(candidates):
            seen = first_seen.setdefault(candidate.key, candidate)
            if seen.digest != candidate.digest:
                errors.append(FieldError(f"[{i}].id", "repeats an earlier id of this batch with "
                                                      "different content; give each event its own id"))
        if errors:
            raise InvalidEvent("ids repeat within the batch", errors)
        return candidates

    def _authorise(self, events: list[CloudEvent], agency: Agency, batch: bool) -> None:
        wrong, forbidden = [], []
        for i, event in enumerate(events):
            where = f"[{i}].type" if batch else "type"
            owner = owner_of(event.type)
            if owner not in (None, self.service):
                wrong.append(FieldError(where, f"{event.type} is taken by the {owner} service, "
                                               f"not {self.service}; post it there"))
            if event.source != agency.source:
                forbidden.append(FieldError(where.replace("type", "source"),
                                            f"must be your agency's own source {agency.source!r}"))
            qualifier = qualifier_of(event)
            if not agency.may(event.type, qualifier):
                what = event.type + (f" of {qualifier!r}" if qualifier else "")
                forbidden.append(FieldError(where, f"the {agency.name} role may not post {what}"))
        if wrong:
            raise WrongService("event type(s) belong to another intake service", wrong)
        if forbidden:
            raise Forbidden("outside your agency's role or source", forbidden)

    async def _accept(self, candidates: list[_Candidate], agency: Agency, batch: bool) -> Outcome:
        token = await self._ledger.claim(c.key for c in candidates)
        try:
            return await self._accept_claimed(candidates, agency, batch)
        finally:
            self._ledger.release(token)

    async def _accept_claimed(self, candidates: list[_Candidate], agency: Agency,
                              batch: bool) -> Outcome:
        known = self._receipts_so_far(candidates, batch)
        recorded = self._clock().isoformat().replace("+00:00", "Z")
        fresh: dict[tuple[str, str], _Candidate] = {}
        for c in candidates:
            if c.key not in known:
                fresh.setdefault(c.key, c)
        try:
            written = await self._seal_and_publish(candidates, fresh, known, recorded, agency, batch)
        except ClaimRaceLost:  # the claim that won is in the key ring now: sealed again, with its key
            written = await self._seal_and_publish(candidates, fresh, known, recorded, agency, batch)
        if written:
            log.info("accepted %d event(s) from %s", written, agency.name)
        duplicate = [c.key not in fresh for c in candidates]
        for c, dup in zip(candidates, duplicate, strict=True):
            if dup:
                self._metrics.duplicate(c.event.type)
        return Outcome([known[c.key] for c in candidates], duplicate)

    def _receipts_so_far(self, candidates: list[_Candidate], batch: bool) -> dict[tuple[str, str], Receipt]:
        """The receipts of the events already accepted, by key; refuses the request if an earlier
        attempt with one of its ids is not settled yet (503) or an id names a different event (409)."""
        undecided, unsettled = set(self._ledger.undecided(c.key for c in candidates)), []
        for i, c in enumerate(candidates):
            if c.key in undecided:
                undecided.discard(c.key)  # named once, at its first position
                unsettled.append(FieldError(f"[{i}].id" if batch else "id", "not settled yet"))
        if unsettled:
            raise BrokerUnavailable(
                "the event log lost the connection while an earlier attempt with this id was "
                "being committed; whether it was recorded is not settled yet: retry in a few "
                "seconds with the same id (you get the original receipt if it was recorded)", unsettled)
        known: dict[tuple[str, str], Receipt] = {}
        conflicts = []
        for i, c in enumerate(candidates):
            receipt = self._ledger.get(*c.key)
            if receipt is None:
                continue
            if receipt.digest != c.digest:
                conflicts.append(self._reuse(c.event, receipt, f"[{i}].id" if batch else "id"))
            known[c.key] = receipt
        if conflicts:
            raise Conflict("an id was reused for a different event", conflicts)
        return known

    async def _seal_and_publish(self, candidates: list[_Candidate],
                                fresh: Mapping[tuple[str, str], _Candidate],
                                known: dict[tuple[str, str], Receipt], recorded: str, agency: Agency,
                                batch: bool) -> int:
        """Seal the fresh events with their persons' keys and publish them, adding their receipts
        to `known`; how many records were written."""
        keys, gate = self._person_keys(fresh.values())
        records = self._records(candidates, known, keys, recorded, agency, batch)
        if records:
            known.update(await self._publish(fresh, records, gate, recorded, batch))
        return len(records)

    def _records(self, candidates: list[_Candidate], known: Mapping[tuple[str, str], Receipt],
                 keys: Mapping[str, PersonKey], recorded: str, agency: Agency,
                 batch: bool) -> list[OutgoingRecord]:
        """The sealed, stamped Kafka record of each new event, once per key, in the order posted."""
        records: list[OutgoingRecord] = []
        placed: dict[str, tuple[str, str, str]] = {}  # event id -> (topic, key, type), for retractions
        written: set[tuple[str, str]] = set()
        for index, c in enumerate(candidates):
            if c.key in known or c.key in written:
                continue
            written.add(c.key)
            value = canonical_json(seal({**c.submitted, "recordedtime": recorded, "agency": agency.name},
                                        keys))
            topic, key = self._placement(_as_sealed_for_placement(c.event, keys), placed, index, batch)
            placed[c.event.id] = (topic, key, c.event.type)
            records.append(OutgoingRecord(topic, key, value, (
                CONTENT_TYPE_HEADER, (DIGEST_HEADER, c.digest.encode()))))
        return records

    async def _publish(self, fresh: Mapping[tuple[str, str], _Candidate], records: list[OutgoingRecord],
                       gate: ClaimGate | None, recorded: str, batch: bool) -> dict[tuple[str, str], Receipt]:
        """Publish the records of the `fresh` events and add their receipts to the ledger; the
        receipts, by key."""
        try:
            with self._metrics.time_publish(batch):
                placements = await self._publisher.publish(records, atomic=batch, gate=gate)
        except BrokerUnavailable as exc:
            if exc.settled is not None:  # it may still have been committed: no second copy
                self._ledger.hold(fresh, exc.settled)
            raise
        new_receipts = [
            Receipt(c.event.id, c.event.source, c.event.type, p.topic, p.partition, p.offset,
                    recorded, r.key, c.digest)
            for c, r, p in zip(fresh.values(), records, placements, strict=True)]
        self._ledger.add(new_receipts)
        for c in fresh.values():
            self._metrics.accepted(c.event.type)
        return {(r.source, r.id): r for r in new_receipts}

    def _person_keys(self, candidates: Iterable[_Candidate]
                     ) -> tuple[Mapping[str, PersonKey], ClaimGate | None]:
        """The keys of every person the events name, the events are sealed with before they reach
        Kafka (`services.privacy`); a new person's comes from a claim still under way, whose gate
        the publisher passes before it commits."""
        refs = [ref for c in candidates for ref in person_refs(c.submitted)]
        return self._keys.provisional(refs) if refs else ({}, None)

    def _reuse(self, event: CloudEvent, receipt: Receipt, field: str) -> FieldError:
        """Why an id already in the ledger cannot name this different event. (The same event again,
        at any intake, is a repeat and gets its original receipt.)"""
        if receipt.topic != self.service.topic:
            return FieldError(field, f"id {event.id!r} was already used by {receipt.source} for a "
                                     f"{receipt.type} event at the {receipt.topic} intake; every event "
                                     "from one source needs its own id: give this event a new id")
        return FieldError(field, f"{event.id!r} was already accepted with different content "
                                 f"(at {receipt.recordedtime}); use a new id for a new event, "
                                 "or post a retraction and a corrected event")

    def _placement(self, event: CloudEvent, in_batch: dict[str, tuple[str, str, str]], index: int,
                   batch: bool) -> tuple[str, str]:
        if event.type != RETRACTION_TYPE:
            return self.service.topic, partition_key(event)
        assert isinstance(event.data, EventRetracted)
        target_id = event.data.retracted_event_id
        field = f"[{index}].data.retracted_event_id" if batch else "data.retracted_event_id"
        if target_id in in_batch:
            topic, key, target_type = in_batch[target_id]
            if target_type == RETRACTION_TYPE:
                raise InvalidEvent("a retraction cannot be retracted", [FieldError(
                    field, "names a retraction; post the original event again under a new id instead")])
            return topic, key
        target = self._ledger.get(event.source, target_id)
        if target is None:
            raise InvalidEvent("nothing to retract here", [FieldError(
                field, f"no event with id {target_id!r} from {event.source} was accepted by the "
                       f"{self.service} service; post the retraction to the service that accepted "
                       "the event, with the same source")])
        if target.topic != self.service.topic:
            raise InvalidEvent("the event to retract was accepted by another intake", [FieldError(
                field, f"{target_id!r} from {event.source} is a {target.type} event accepted by the "
                       f"{target.topic} intake, not {self.service}; post the retraction to the "
                       f"{target.topic} intake")])
        if target.type == RETRACTION_TYPE:
            raise InvalidEvent("a retraction cannot be retracted", [FieldError(
                field, "names a retraction; post the original event again under a new id instead")])
        return target.topic, target.key
