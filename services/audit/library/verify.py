"""`gvi-audit verify`: recompute every chain from offset 0 and hold it against every checkpoint.

A partition passes when each trusted checkpoint's (count, chain head) equals the recomputed one at its
offset. At the first checkpoint that does not, the records since the last matching checkpoint are
compared, by offset, with the record digests the checkpoints list, which names the spot:

* `altered`: a committed record is at its offset, with other content;
* `missing`: a committed record is gone (a gap); when the records after it moved up, that is said too;
* `inserted`: a committed record is where the checkpoints list none;
* `truncated`: the log ends before a checkpointed offset;
* `diverged`: the chain differs and no listed digest says where (checkpoints missing in between).

Checkpoints themselves fail as `bad_signature` (does not verify under the key it names), `unknown_key`
(a key the auditor does not trust) or `malformed`. Records after the last checkpoint are `unverified`;
that is normal for the newest seconds, and a problem (`unchecked`) once older than the grace period,
since the checkpointer covers new records within seconds: their checkpoints were lost or removed.
"""

from __future__ import annotations

import bisect
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.audit.library.chain import LOCATOR_BYTES, ChainState, LogRecord, RecordLike, record_digest
from services.audit.library.checkpoints import Checkpoint, VerificationRecord, decode
from services.audit.library.kafka_log import LogReader, Progress
from services.audit.library.signing import PublicKeys

__all__ = ["PartitionVerifier", "Problem", "TrustedCheckpoints", "VerificationReport", "load_checkpoints",
           "verify_log"]


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str
    topic: str
    partition: int | None
    offset: int | None
    detail: str

    def __str__(self) -> str:
        where = self.topic if self.partition is None else f"{self.topic}/{self.partition}"
        at = "" if self.offset is None else f" offset {self.offset}"
        return f"{self.kind}: {where}{at}: {self.detail}"


@dataclass
class PartitionSummary:
    topic: str
    partition: int
    records: int = 0
    checkpoints: int = 0
    verified_records: int = 0

    @property
    def unverified_records(self) -> int:
        return self.records - self.verified_records


@dataclass
class VerificationReport:
    problems: list[Problem] = field(default_factory=list)
    partitions: list[PartitionSummary] = field(default_factory=list)
    checkpoints_read: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def records(self) -> int:
        return sum(p.records for p in self.partitions)

    @property
    def checkpoints(self) -> int:
        return sum(p.checkpoints for p in self.partitions)

    @property
    def unverified_records(self) -> int:
        return sum(p.unverified_records for p in self.partitions)

    def summary(self) -> str:
        head = "OK" if self.ok else f"FAILED ({len(self.problems)} problem(s))"
        return (f"{head}: {self.records} committed records in {len(self.partitions)} partitions, "
                f"{self.records - self.unverified_records} covered by {self.checkpoints} matching "
                f"checkpoints, {self.unverified_records} newer than the last checkpoint")


@dataclass
class TrustedCheckpoints:
    """The checkpoints whose signature verifies under a trusted key, by (topic, partition)."""

    by_partition: dict[tuple[str, int], list[Checkpoint]] = field(default_factory=lambda: defaultdict(list))
    problems: list[Problem] = field(default_factory=list)
    read: int = 0
    verification: VerificationRecord | None = None
    """The latest verification record signed by a trusted key."""

    def latest(self, topic: str, partition: int) -> Checkpoint | None:
        found = self.by_partition.get((topic, partition))
        return max(found, key=lambda c: (c.offset, c.count)) if found else None


def load_checkpoints(reader: LogReader, checkpoint_topic: str, keys: PublicKeys,
                     topics: Iterable[str] | None = None, *, progress: Progress | None = None,
                     keep_segments: bool = True, only: tuple[str, int] | None = None) -> TrustedCheckpoints:
    """Every checkpoint of `topics` signed by a trusted key, and the problems with the others.
    `keep_segments=False` drops the per-record digests once the signature is checked (they are only
    needed to locate a difference), which keeps a long history's checkpoints small in memory."""
    wanted = set(topics) if topics is not None else None
    out = TrustedCheckpoints()
    for batch in reader.read_topics([checkpoint_topic], progress=progress, missing_ok=True):
        for record in batch:
            out.read += 1
            where = f"{record.topic}/{record.partition} offset {record.offset}"
            item = decode(record.value)
            if item is None:
                out.problems.append(Problem("malformed", record.topic, record.partition, record.offset,
                                            "not a checkpoint or verification record"))
                continue
            if isinstance(item, VerificationRecord):
                newer = out.verification is None or item.time >= out.verification.time
                if newer and item.signature_ok(keys):
                    out.verification = item
                continue
            if (wanted is not None and item.topic not in wanted) or (
                    only is not None and (item.topic, item.partition) != only):
                continue
            covers = (f"the checkpoint at {where} (covering {item.topic}/{item.partition} "
                      f"to offset {item.offset})")
            if item.key_id not in keys:
                out.problems.append(Problem(
                    "unknown_key", item.topic, item.partition, item.offset,
                    f"{covers} is signed by key id {item.key_id}, not one of the configured public keys "
                    f"({', '.join(keys.ids())})"))
            elif not item.signature_ok(keys):
                out.problems.append(Problem("bad_signature", item.topic, item.partition, item.offset,
                                            f"the signature of {covers} does not verify under key id "
                                            f"{item.key_id}"))
            else:
                if not keep_segments:
                    item = item.model_copy(update={"segment_offsets": (), "segment_digests": ""})
                out.by_partition[(item.topic, item.partition)].append(item)
    for found in out.by_partition.values():
        found.sort(key=lambda c: (c.offset, c.count))
    return out


class PartitionVerifier:
    """Recomputes one partition's chain record by record and checks it against its checkpoints."""

    def __init__(self, topic: str, partition: int, checkpoints: Sequence[Checkpoint],
                 segments: Callable[[], Sequence[Checkpoint]] | None = None) -> None:
        """`segments`, if given, fetches this partition's checkpoints with their per-record digests
        when a difference must be located (so `checkpoints` may come without them)."""
        self.summary = PartitionSummary(topic, partition)
        self._checkpoints = list(checkpoints)
        self._segments = segments
        self._pending = deque(self._checkpoints)
        self._state = ChainState.start(topic, partition)
        self._good: Checkpoint | None = None
        self._window: list[tuple[int, str, RecordLike]] = []
        self._first_unverified_ms: int | None = None
        self._last_seen = -1
        self.problem: Problem | None = None

    def add(self, record: RecordLike) -> None:
        if self.problem is not None:
            return
        self.summary.records += 1
        self._last_seen = record.offset
        digest = record_digest(record)
        if self._pending:
            self._window.append((record.offset, digest[:LOCATOR_BYTES].hex(), record))
            if self._pending[0].offset < record.offset:
                self._fail(self._pending[0])
                return
        self._state.extend(record.offset, digest)
        if self._first_unverified_ms is None:
            self._first_unverified_ms = record.timestamp
        while self._pending and self._pending[0].offset == record.offset:
            checkpoint = self._pending.popleft()
            if checkpoint.count != self._state.count or checkpoint.chain != self._state.head.hex():
                self._fail(checkpoint)
                return
            self._good = checkpoint
            self._window.clear()
            self._first_unverified_ms = None
            self.summary.checkpoints += 1
            self.summary.verified_records = self._state.count

    def finish(self, *, now: datetime, grace_seconds: float) -> Problem | None:
        if self.problem is None and self._pending:
            self._fail(self._pending[0])
        if self.problem is None and self._first_unverified_ms is not None:
            oldest = datetime.fromtimestamp(self._first_unverified_ms / 1000, UTC)
            if (now - oldest).total_seconds() > grace_seconds:
                after = self._good.offset if self._good is not None else -1
                self.problem = Problem(
                    "unchecked", self.summary.topic, self.summary.partition, after + 1,
                    f"{self.summary.unverified_records} committed record(s) from here on, the oldest "
                    f"written {oldest.isoformat()}, are covered by no checkpoint although the grace "
                    f"period is {grace_seconds:g}s: their checkpoints are missing")
        return self.problem

    def _fail(self, checkpoint: Checkpoint) -> None:
        topic, partition = self.summary.topic, self.summary.partition
        after = self._good.offset if self._good is not None else -1
        self.problem = self._locate(after) or Problem(
            "truncated" if checkpoint.offset > self._last_seen else "diverged", topic, partition,
            checkpoint.offset,
            f"the checkpoint at offset {checkpoint.offset} (count {checkpoint.count}) does not match the log "
            f"({self._state.count} committed records through offset {self._state.offset}); the log "
            f"differs somewhere after offset {after}")

    def _locate(self, after: int) -> Problem | None:
        """The first record, after the last matching checkpoint, that differs from what the checkpoints
        list; only where their segments cover the offsets (a missing checkpoint leaves a hole)."""
        topic, partition = self.summary.topic, self.summary.partition
        expected: dict[int, str] = {}
        covered: list[tuple[int, int]] = []
        for checkpoint in self._segments() if self._segments is not None else self._checkpoints:
            if checkpoint.offset > after:
                expected.update((o, d) for o, d in checkpoint.segment() if o > after)
                covered.append((max(checkpoint.prev_offset, after), checkpoint.offset))
        covered.sort()
        starts = [lo for lo, _ in covered]

        def is_covered(offset: int) -> bool:
            i = bisect.bisect_left(starts, offset) - 1
            return i >= 0 and covered[i][0] < offset <= covered[i][1]

        exp = sorted(expected.items())
        act = [(o, d) for o, d, _ in self._window if is_covered(o)]
        records = {o: r for o, _, r in self._window}
        i = j = 0
        while i < len(exp) or j < len(act):
            if i < len(exp) and j < len(act) and exp[i][0] == act[j][0]:
                if exp[i][1] == act[j][1]:
                    i, j = i + 1, j + 1
                    continue
                moved_from = _moved_from(records[act[j][0]], exp[i + 1:])
                if moved_from is not None:
                    return Problem("missing", topic, partition, exp[i][0],
                                   "the committed record checkpointed at this offset is gone; the record "
                                   f"checkpointed at offset {moved_from} is here now (the later ones "
                                   "moved up)")
                return Problem("altered", topic, partition, exp[i][0],
                               "the record at this offset is not the one checkpointed here (its content, "
                               "key, headers or timestamp changed)")
            if j < len(act) and (i >= len(exp) or act[j][0] < exp[i][0]):
                return Problem("inserted", topic, partition, act[j][0],
                               "a committed record is at this offset where the checkpoints list none")
            if j >= len(act) and self._last_seen < exp[i][0]:
                return Problem("truncated", topic, partition, exp[i][0],
                               f"the log ends at offset {self._last_seen}, but the checkpoints list "
                               f"committed records from this offset up to offset {exp[-1][0]}")
            return Problem("missing", topic, partition, exp[i][0],
                           "the committed record checkpointed at this offset is gone (a gap in the log)")
        return None


def _moved_from(record: RecordLike, later: Sequence[tuple[int, str]]) -> int | None:
    """The later checkpointed offset whose record this is, had it not moved: a record was removed
    before it and the rest moved up. (Its digest covers its offset, so it is re-encoded at each.)"""
    for offset, expected in later[:_MAX_SHIFT]:
        moved = LogRecord(record.topic, record.partition, offset, record.timestamp, record.key, record.value,
                          record.headers or ())
        if record_digest(moved)[:LOCATOR_BYTES].hex() == expected:
            return offset
    return None


_MAX_SHIFT = 10_000


def verify_log(reader: LogReader, topics: Sequence[str], checkpoint_topic: str, keys: PublicKeys, *,
               now: datetime | None = None, grace_seconds: float = 900.0,
               progress: Progress | None = None) -> VerificationReport:
    """Verify `topics` against the checkpoints in `checkpoint_topic` (read first, so that every
    checkpoint read covers records that exist by the time the source topics are read). Checkpoints
    are held without their per-record digests; a partition that fails reads its own again to locate
    the difference, so memory does not grow with the history."""
    trusted = load_checkpoints(reader, checkpoint_topic, keys, topics, progress=progress, keep_segments=False)
    report = VerificationReport(problems=list(trusted.problems), checkpoints_read=trusted.read)
    partitions = [tp for topic in topics for tp in reader.partitions(topic)]

    def segments(topic: str, partition: int) -> Callable[[], list[Checkpoint]]:
        def fetch() -> list[Checkpoint]:
            with LogReader(reader.bootstrap, client_id="gvi-audit-locate") as second:
                found = load_checkpoints(second, checkpoint_topic, keys, [topic], only=(topic, partition))
            return found.by_partition.get((topic, partition), [])
        return fetch

    verifiers = {(tp.topic, tp.partition): PartitionVerifier(
        tp.topic, tp.partition, trusted.by_partition.get((tp.topic, tp.partition), []),
        segments(tp.topic, tp.partition)) for tp in partitions}
    for (topic, partition), found in sorted(trusted.by_partition.items()):
        if (topic, partition) not in verifiers:
            report.problems.append(Problem("missing", topic, partition, None,
                                           f"{len(found)} checkpoint(s) cover this partition, which no "
                                           "longer exists"))
    for batch in reader.read(partitions, progress=progress):
        verifier = verifiers[(batch[0].topic, batch[0].partition)]
        for record in batch:
            verifier.add(record)
    when = now or datetime.now(UTC)
    for verifier in verifiers.values():
        problem = verifier.finish(now=when, grace_seconds=grace_seconds)
        if problem is not None:
            report.problems.append(problem)
        report.partitions.append(verifier.summary)
    return report
