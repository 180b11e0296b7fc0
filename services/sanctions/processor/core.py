"""What the processor does with one source record, without Kafka: the part the faust edge wraps.

`ProcessorCore.accept` takes a record as read from a source topic (topic, partition, offset, value)
and returns what to write: the fact to keep in the fact store (or nothing, for a copy that does not
count), the `group-state` records and the alerts. `ProcessorCore.tick(now)` is the wall-clock part:
`follow_through_stalled` alerts for cases awaiting their first sanction for too long, and the
withdrawal of `retaliation_risk` alerts that have expired (`risk_expired`: `risk_days` without new
violence involving the group). The ledger's alerts are those of the events alone (as `derive`'s);
the core publishes them less the expired retaliation risks, judging expiry against the `now` it is
given with each batch, on each tick and at restore, so that a retaliation risk the events raise
again after a restart (or a correction re-raises) is not published if it has expired. Everything
else is the rules (`services.followthrough`), which the replay tool and the tests call the same way.

Crash safety rests on three properties, each checked by tests:
* outputs are a function of the ledger's state after the event, so publishing them again is harmless
  (compaction keeps the last record per key; alerts keep their deterministic ids and content);
* the fact store holds the counting copy of every event seen, with its log position, and `restore`
  rebuilds the ledger only from facts whose offset the consumer group had committed; the others are
  delivered again after a restart, and re-applying them publishes their outputs (tombstones and
  withdrawals included);
* the consumer commits an offset only after the outputs of the events before it are acknowledged.
"""

from __future__ import annotations

import json
import logging
import statistics
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.contracts import read_event
from services.contracts.alerts import Alert, AlertKind, AlertWithdrawal
from services.contracts.alerts import alert_id as id_of_alert
from services.contracts.group_state import CaseStatus
from services.contracts.group_state_records import Record
from services.followthrough import (
    DEFAULT_RISK_DAYS,
    DEFAULT_WINDOW_DAYS,
    Fact,
    FactKey,
    Ledger,
    Update,
    all_records,
    is_stalled,
    preferred,
    records_for,
    risk_expired,
)

__all__ = ["Outputs", "ProcessorCore", "Read", "SourceRecord", "TopicPartition", "decode_facts",
           "encode_fact"]

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


_FRAME = struct.Struct(">I")
_RESTORE_BATCH = 10_000


def encode_fact(fact: Fact, value: bytes) -> bytes:
    """One fact for the fact store: a length-prefixed frame holding the log position on one line,
    then the record's value as read. Frames concatenate: the store keeps a batch's facts together."""
    assert fact.offset is not None and fact.partition is not None
    body = b'{"offset":%d,"partition":%d,"topic":%s}\n%s' % (
        fact.offset, fact.partition, json.dumps(fact.topic).encode(), value)
    return _FRAME.pack(len(body)) + body


def decode_facts(stored: bytes) -> Iterator[Fact]:
    """The facts of a stored batch. A fact the contract no longer reads (stored before a rule was
    made stricter) is skipped, as re-reading its record from the source topic would skip it, and
    counted in the log: the worker must still load."""
    view, at, unreadable = memoryview(stored), 0, 0
    while at < len(view):
        (size,) = _FRAME.unpack_from(view, at)
        position, _, value = bytes(view[at + _FRAME.size:at + _FRAME.size + size]).partition(b"\n")
        at += _FRAME.size + size
        where = json.loads(position)
        try:
            event = read_event(value)
        except (ValueError, RecursionError):
            unreadable += 1
            continue
        yield Fact.from_event(event, topic=where["topic"], partition=where["partition"],
                              offset=where["offset"])
    if unreadable:
        log.warning("skipped %d stored fact(s) that the contract no longer reads (as the source "
                    "topics' copies are skipped)", unreadable)


def _warn_conflicting(earlier: Fact, fact: Fact) -> None:
    """Where the two copies are and their types, never their content (it may name people)."""
    log.warning("one event id was given to two different events: a %s at %s/%s@%s and a %s at %s/%s@%s; "
                "only the copy recorded first counts: the agency must post the other event again under "
                "a new id", earlier.type, earlier.topic, earlier.partition, earlier.offset,
                fact.type, fact.topic, fact.partition, fact.offset)


SourceRecord = tuple[str, int, int, bytes | None]
"""A record as read from a source topic: (topic, partition, offset, value)."""


@dataclass(frozen=True, slots=True)
class Read:
    """What became of one source record: the fact to keep, or why it was skipped."""

    store: bytes | None = None
    """The fact to keep (an `encode_fact` frame), or None for a copy that does not count."""
    event_type: str = "unknown"
    rejected: str | None = None
    conflicting_copy: bool = False
    """A copy of a (source, id) read before with other content (type, time or data): one agency's id
    given to two events, which two intakes accepted within their receipt ledgers' lag. Only one of the
    copies counts (`preferred`); the edge counts this in `ProcessorMetrics.conflicting_copy`."""


@dataclass(frozen=True, slots=True)
class Outputs:
    """What a batch of source records makes the processor write: per record, what became of it;
    and the last record of each `group-state` key the batch changed, and every alert."""

    reads: tuple[Read, ...] = ()
    records: tuple[Record, ...] = ()
    alerts: tuple[Alert | AlertWithdrawal, ...] = ()


@dataclass(slots=True)
class _Followed:
    """The cases the clock watches: those awaiting a first sanction, by incident time; and the
    days to first sanction of the sanctioned ones, for the swiftness figures."""

    awaiting: dict[tuple[str, str], datetime] = field(default_factory=dict)
    swiftness: dict[tuple[str, str], float] = field(default_factory=dict)
    stalled: set[tuple[str, str]] = field(default_factory=set)


class ProcessorCore:
    def __init__(self, *, window_days: int = DEFAULT_WINDOW_DAYS, stall_days: int = 14,
                 risk_days: int = DEFAULT_RISK_DAYS) -> None:
        self.window_days = window_days
        self.stall_days = stall_days
        self.risk_days = risk_days
        self.ledger = Ledger(window_days=window_days)
        self._followed = _Followed()
        self._expired: set[str] = set()
        """ids of the ledger's `retaliation_risk` alerts judged expired: not published as raised
        (withdrawn when they expired, or never raised by this process)"""

    # -- the stream ---------------------------------------------------------------------------------
    def accept(self, records: Sequence[SourceRecord], now: datetime | None = None) -> Outputs:
        """A batch of records from the source topics, in the order read. A record that is not an
        event (which the intake never writes) is skipped and reported as `rejected`, never fatal:
        one bad record must not stop the partnership's view. The ledger takes the batch's events
        together (`Ledger.apply_batch`), so a case or a group summary that many of them touch is
        rebuilt and published once."""
        reads: list[Read] = []
        facts: list[Fact] = []
        counting: dict[FactKey, Fact] = {}  # within the batch: the copy that will count
        for topic, partition, offset, value in records:
            if value is None:
                reads.append(Read(rejected="empty"))
                continue
            try:
                event = read_event(value)
            except (ValueError, RecursionError):
                reads.append(Read(rejected="invalid"))
                continue
            fact = Fact.from_event(event, topic=topic, partition=partition, offset=offset)
            counted = counting.get(fact.key) or self.ledger.fact(fact.key)
            store = None
            if counted is None or (preferred(counted, fact) is fact and counted != fact):
                store = encode_fact(fact, value)
                counting[fact.key] = fact
            conflicting = False
            if counted is not None and not counted.same_content(fact):
                conflicting = True
                _warn_conflicting(counted, fact)
            reads.append(Read(store, event.type, conflicting_copy=conflicting))
            facts.append(fact)
        update = self.ledger.apply_batch(facts)
        alerts = self._unexpired(update, now)
        alerts.extend(self._follow(update, now))
        return Outputs(tuple(reads), tuple(records_for(self.ledger, update)), tuple(alerts))

    def _unexpired(self, update: Update, now: datetime | None) -> list[Alert | AlertWithdrawal]:
        """The batch's alert changes, less the retaliation risks that have expired as of `now`;
        and the risks of the groups whose latest violence changed, renewed (raised again) or
        lapsed (withdrawn). Without `now` (no clock) nothing is judged expired."""
        out: list[Alert | AlertWithdrawal] = []
        judged: set[str] = set()
        for alert in update.alerts.raised:
            judged.add(alert.alert_id)
            risk = alert.kind is AlertKind.RETALIATION_RISK
            if risk and now is not None and self._risk_expired(alert.group_id, alert.incident_id, now):
                self._expired.add(alert.alert_id)
            else:
                out.append(alert)
        for withdrawal in update.alerts.withdrawn:
            judged.add(withdrawal.alert_id)
            if withdrawal.alert_id in self._expired:
                self._expired.discard(withdrawal.alert_id)  # withdrawn already
            else:
                out.append(withdrawal)
        if now is None:
            return out
        for group_id in update.violence_ids:
            for incident_id in self.ledger.retaliation_risks(group_id):
                # the alert's id alone tells whether anything changes: the alert is made only then
                held = (AlertKind.RETALIATION_RISK, group_id, incident_id)
                risk_id = id_of_alert(*held)
                if risk_id in judged:
                    continue
                expired = self._risk_expired(group_id, incident_id, now)
                if expired and risk_id not in self._expired:
                    self._expired.add(risk_id)
                    out.append(AlertWithdrawal.of(Alert.of(*held)))
                elif not expired and risk_id in self._expired:
                    self._expired.discard(risk_id)
                    out.append(Alert.of(*held))
        return out

    def _risk_expired(self, group_id: str, incident_id: str, now: datetime) -> bool:
        incident_time = self.ledger.incident_time(incident_id)
        assert incident_time is not None, "a retaliation risk holds only for a reported incident"
        return risk_expired(incident_time, self.ledger.latest_violence(group_id), now, self.risk_days)

    def _expire(self, now: datetime) -> list[AlertWithdrawal]:
        """Withdraw the retaliation risks that have expired by `now` and were not yet."""
        out = []
        for alert_id, alert in sorted(self.ledger.alerts.items()):
            if (alert.kind is AlertKind.RETALIATION_RISK and alert_id not in self._expired
                    and self._risk_expired(alert.group_id, alert.incident_id, now)):
                self._expired.add(alert_id)
                out.append(AlertWithdrawal.of(alert))
        return out

    def _follow(self, update: Update, now: datetime | None) -> Iterable[AlertWithdrawal]:
        """Keep the watched cases current; a stalled case that got its sanction (or went away)
        withdraws its stall alert."""
        out = []
        for group_id, incident_id in update.case_ids:
            key = (group_id, incident_id)
            case = self.ledger.case_state(group_id, incident_id)
            if case is not None and case.status is CaseStatus.AWAITING_SANCTION:
                self._followed.awaiting[key] = case.incident_time
                self._followed.swiftness.pop(key, None)
                continue
            incident_time = self._followed.awaiting.pop(key, None)
            if case is not None and case.days_to_first_sanction is not None:
                self._followed.swiftness[key] = case.days_to_first_sanction
            else:
                self._followed.swiftness.pop(key, None)
            was_stalled = key in self._followed.stalled or (
                incident_time is not None and now is not None and self._is_stalled(incident_time, now))
            if was_stalled:
                self._followed.stalled.discard(key)
                out.append(AlertWithdrawal.of(Alert.of(AlertKind.FOLLOW_THROUGH_STALLED, *key)))
        return out

    def _is_stalled(self, incident_time: datetime, now: datetime) -> bool:
        return is_stalled(incident_time, now, self.stall_days)

    # -- the clock ----------------------------------------------------------------------------------
    def tick(self, now: datetime) -> list[Alert | AlertWithdrawal]:
        """`follow_through_stalled` for every case awaiting its first sanction `stall_days` after
        its incident, raised once per case by this process (a restart raises them again, with the
        same ids and content); and the withdrawal of every retaliation risk expired by `now`, once
        per alert by this process (expired before a restart: judged at `restore`, withdrawn by
        `reconcile` if the topic still shows it raised)."""
        out: list[Alert | AlertWithdrawal] = []
        for key, incident_time in sorted(self._followed.awaiting.items()):
            if key not in self._followed.stalled and self._is_stalled(incident_time, now):
                self._followed.stalled.add(key)
                out.append(Alert.of(AlertKind.FOLLOW_THROUGH_STALLED, *key))
        out.extend(self._expire(now))
        return out

    def expired_risks(self) -> int:
        return len(self._expired)

    def open_cases(self) -> int:
        return len(self._followed.awaiting)

    def stalled_cases(self, now: datetime) -> int:
        return sum(1 for t in self._followed.awaiting.values() if self._is_stalled(t, now))

    def swiftness(self) -> Mapping[str, float] | None:
        """Median and 90th percentile of days to first sanction over the sanctioned cases."""
        days = sorted(self._followed.swiftness.values())
        if not days:
            return None
        p90 = days[0] if len(days) == 1 else statistics.quantiles(days, n=10, method="inclusive")[-1]
        return {"0.5": statistics.median(days), "0.9": p90}

    # -- recovery -----------------------------------------------------------------------------------
    def reconcile(self, published: Mapping[bytes, bytes], raised: Mapping[str, bytes],
                  now: datetime) -> tuple[list[Record], list[Alert | AlertWithdrawal]]:
        """After `restore`: what to publish so that the derived topics say exactly what the
        restored state says. A worker killed after publishing the outputs of events it had not yet
        committed may have left records (and alerts) that the events, re-applied in another order
        after the restart, would never correct: e.g. a case opened by an incident whose retraction
        was not yet read, where after the restart the retraction is read first and nothing changes.

        `published`: the current value of every live key of `group-state`; `raised`: alert id ->
        the last record of each alert whose last record raises it."""
        expected = all_records(self.ledger)
        records: list[Record] = [(k, v) for k, v in sorted(expected.items()) if published.get(k) != v]
        records.extend((k, None) for k in sorted(published) if k not in expected)
        self.tick(now)  # stalls raised and risks expired by now: the loops below publish them
        holding: dict[str, Alert] = {i: a for i, a in self.ledger.alerts.items() if i not in self._expired}
        for key in self._followed.stalled:  # raised by this and earlier ticks
            stalled = Alert.of(AlertKind.FOLLOW_THROUGH_STALLED, *key)
            holding[stalled.alert_id] = stalled
        alerts: list[Alert | AlertWithdrawal] = [
            alert for alert_id, alert in sorted(holding.items()) if raised.get(alert_id) != alert.to_json()]
        for alert_id in sorted(raised.keys() - holding.keys()):
            alerts.append(AlertWithdrawal.of(Alert.model_validate_json(raised[alert_id])))
        return records, alerts


    def restore(self, stored: Iterable[bytes], committed: Mapping[TopicPartition, int],
                now: datetime | None = None) -> int:
        """Rebuild the ledger from the fact store, keeping only facts below the committed offset of
        their partition (whose outputs were acknowledged before the commit); the rest are read again
        from the source topics and published then. Retaliation risks expired by `now` are judged
        expired without a withdrawal (`reconcile` publishes one where the topic still shows one
        raised): a restarted worker neither raises them nor withdraws them again on its first tick.
        Returns how many facts were restored."""
        restored, pending = 0, []
        for blob in stored:
            for fact in decode_facts(blob):
                assert fact.topic is not None and fact.partition is not None and fact.offset is not None
                if fact.offset < committed.get((fact.topic, fact.partition), 0):
                    pending.append(fact)  # a fact kept twice (batches re-read) counts once
                    restored += 1
            if len(pending) >= _RESTORE_BATCH:
                self.ledger.apply_batch(pending)
                pending = []
        self.ledger.apply_batch(pending)
        for group_id, state in self.ledger.derived().groups.items():
            for case in state.cases:
                key = (group_id, case.incident_id)
                if case.status is CaseStatus.AWAITING_SANCTION:
                    self._followed.awaiting[key] = case.incident_time
                elif case.days_to_first_sanction is not None:
                    self._followed.swiftness[key] = case.days_to_first_sanction
        if now is not None:
            self._expire(now)
        return restored

