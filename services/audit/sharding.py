"""`gvi-audit replay` in shard processes: each reads some partitions and computes some groups.

Reading and validating a record costs more than the rules do with it, and both run one core at a
time in a process, so one process replays no faster than one core allows, and a process that
reads while another computes the rules still waits for the rules at the end. Here each *shard
process* (forked from a fork server that has only imported this code: the process calling this has
a consumer whose I/O thread a fork would not keep) reads its partitions (`readers.read_partitions`),
decodes them (`decoding.decode_value`, what the processor accepts) and keeps the facts the cut
admits; then the shards settle the rules together (`services.audit.shards`):

1. each sends its `ShardCheck`; if `shards.disagreement` finds something in two shards, the
   caller is told (`ShardsDisagree`) and replays in one piece;
2. each settles its own facts (`Shard`) and sends its memberships to every other shard;
3. each sends every other shard that shard's parts of its groups;
4. each computes the states of the groups it owns (`group_lines`) and sends their lines, in group
   id order, which this process merges into the one document.

This process only relays bytes and merges lines. Shard s reads partition number p of every source
topic when p % shards == s if the topics have the same number of partitions (then a group's
own events are read by the shard that computes it), and a balanced share otherwise.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import marshal
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from operator import itemgetter
from typing import Any

from services.audit import errors
from services.audit.decoding import decode_value
from services.audit.kafka_log import LogReader, Progress
from services.audit.readers import balanced_shares, read_partitions
from services.audit.replay import Cut, ReplayStats, read_facts
from services.audit.shard_server import start_fork_server
from services.audit.shards import (
    Shard,
    ShardCheck,
    decode_facts,
    decode_parts,
    disagreement,
    encode_facts,
    encode_parts,
    group_lines,
    owner_function,
)
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity
from services.sanctions.domain import Fact

__all__ = ["Plan", "ShardsDisagree", "shard_plan", "sharded_lines"]

_LINE_BYTES = 1 << 20
"""About how many bytes of lines a shard process sends per message (a group's line can be far larger:
a document of a million events is some 177 MB)."""

_LINES_AHEAD = 4
"""How many such messages `gvi-audit` takes from a shard ahead of the merge."""


class ShardsDisagree(errors.AuditError):
    """The log is not keyed as the intake keys it (see `shards.disagreement`): replay it in one piece."""


@dataclass(frozen=True, slots=True)
class Plan:
    """Each shard's (topic, partition, end) to read; `partitions` when every topic has that many
    and shard s reads partition numbers p with p % shards == s."""

    jobs: list[list[tuple[str, int, int]]]
    partitions: int | None


def shard_count(partitions: int, readers: int) -> int:
    """How many shards for topics of `partitions` partitions each and `readers` wanted: the
    smallest divisor of `partitions` that is at least `readers` (each shard then reads as many
    partitions), unless that is more than twice `readers`; then `readers`."""
    for count in range(min(readers, partitions), partitions + 1):
        if partitions % count == 0:
            return count if count <= 2 * readers else min(readers, partitions)
    return min(readers, partitions)


def shard_plan(reader: LogReader, topics: Sequence[str], readers: int) -> Plan:
    """Which shard reads what, up to the ends the topics have now."""
    partitions = [tp for topic in topics for tp in reader.partitions(topic)]
    ends = reader.end_offsets(partitions)
    counts = {topic: sum(1 for tp in partitions if tp.topic == topic) for topic in topics}
    sizes = set(counts.values())
    if len(sizes) == 1 and (size := sizes.pop()) > 0:
        count = shard_count(size, readers)
        return Plan([[(tp.topic, tp.partition, ends[tp]) for tp in partitions
                      if tp.partition % count == shard and ends.get(tp, 0) > 0]
                     for shard in range(count)], size)
    shares = balanced_shares(partitions, ends, readers)
    return Plan([[(tp.topic, tp.partition, ends[tp]) for tp in share] for share in shares], None)


def sharded_lines(bootstrap: str, plan: Plan, cut: Cut, stats: ReplayStats, *, window_days: int,
                  security: KafkaSecurity = PLAINTEXT, timeout_s: float = 10.0,
                  progress: Progress | None = None) -> Iterator[bytes]:
    """`replay.state_lines` of the log's facts that `cut` admits, computed by `plan`'s shard
    processes: every group's line in group id order, then the number of groups as ASCII digits;
    `stats` counted as `read_facts` counts them. Raises `ShardsDisagree` before the first line if
    the shards cannot give the answer apart."""
    count = len(plan.jobs)
    context = start_fork_server()
    connections: list[Connection] = []
    processes: list[Any] = []
    for shard, jobs in enumerate(plan.jobs):
        mine, theirs = context.Pipe(duplex=True)
        process = context.Process(target=_shard_main, name="gvi-audit-shard", daemon=True, args=(
            shard, count, plan.partitions, bootstrap, security, timeout_s, jobs, cut, window_days, theirs))
        process.start()
        theirs.close()
        connections.append(mine)
        processes.append(process)
    try:
        yield from _conduct(connections, processes, stats, progress)
    finally:
        for connection, process in zip(connections, processes, strict=True):
            if process.is_alive():
                process.terminate()
            process.join()
            connection.close()


def _frame(tag: str, *body: Any, to: int = 0) -> bytes:
    """A message between a shard process and this one: a one-letter tag, the shard it is for (of
    those this process relays: memberships and parts; else 0), then its body `marshal`ed. This
    process relays by the first two bytes, without decoding what it relays (tens of MB)."""
    return tag.encode() + bytes((to,)) + marshal.dumps(body)


def _body(raw: bytes) -> Any:
    return marshal.loads(memoryview(raw)[2:])  # noqa: S302 (between our own processes, over their own pipes)


def _receive(connection: Connection, processes: list[Any], connections: list[Connection]) -> bytes:
    try:
        raw = connection.recv_bytes()
    except EOFError:
        process = processes[connections.index(connection)]
        process.join()
        raise errors.AuditError(f"a shard process stopped without finishing "
                                f"(exit code {process.exitcode})") from None
    if raw[:1] == b"e":  # the shard's error, raised here as the same kind of error
        raise errors.reported(*_body(raw))
    return raw


def _send(raw: bytes, shard: int, connections: list[Connection], processes: list[Any]) -> None:
    try:
        connections[shard].send_bytes(raw)
    except OSError:  # the shard has stopped: the last it sent says why (an error, or nothing)
        while True:
            _receive(connections[shard], processes, connections)


def _conduct(connections: list[Connection], processes: list[Any], stats: ReplayStats,
             progress: Progress | None) -> Iterator[bytes]:
    count = len(connections)
    checks: dict[int, ShardCheck] = {}
    totals: dict[int, int] = {}
    done = 0
    while len(checks) < count:  # 1. reading
        for connection in wait([c for i, c in enumerate(connections) if i not in checks]):
            assert isinstance(connection, Connection)
            shard = connections.index(connection)
            raw = _receive(connection, processes, connections)
            tag, body = raw[:1], _body(raw)
            if tag == b"s":
                totals[shard] = body[0]
            elif tag == b"p":
                done += body[0]
                if progress is not None and len(totals) == count:
                    progress(done, sum(totals.values()))
            else:  # "c"
                counts, by_topic, keys, targets, incidents, call_ins = body
                checks[shard] = ShardCheck(keys, targets, incidents, call_ins)
                stats.records += counts[0]
                stats.events += counts[1]
                stats.invalid += counts[2]
                stats.not_yet_known += counts[3]
                stats.not_yet_happened += counts[4]
                for topic, n in by_topic.items():
                    stats.by_topic[topic] = stats.by_topic.get(topic, 0) + n
    if progress is not None:
        progress(done, done)
    reason = disagreement([checks[i] for i in range(count)])
    go = _frame("g" if reason is None else "h")  # go, or halt
    for shard in range(count):
        _send(go, shard, connections, processes)
    if reason is not None:
        raise ShardsDisagree(reason)

    groups: dict[int, int] = {}
    relayed = [0] * count  # each shard sends one "m", then one "x" for every other shard
    while min(relayed) < count:  # 2 and 3: each relayed as it comes
        for connection in wait([c for i, c in enumerate(connections) if relayed[i] < count]):
            assert isinstance(connection, Connection)
            shard = connections.index(connection)
            raw = _receive(connection, processes, connections)
            relayed[shard] += 1
            if raw[:1] == b"m":
                for other in range(count):
                    if other != shard:
                        _send(raw, other, connections, processes)
            else:  # "x"
                _send(raw, raw[1], connections, processes)

    inboxes = [_Lines(connection, processes, connections) for connection in connections]

    def lines_of(shard: int) -> Iterator[tuple[str, bytes]]:
        while True:
            tag, body = inboxes[shard].next()
            if tag == b"d":
                groups[shard] = body
                return
            yield from body  # "l"

    for _, line in heapq.merge(*(lines_of(shard) for shard in range(count)), key=itemgetter(0)):  # 4.
        yield line
    yield str(sum(groups.values())).encode()


class _Lines:
    """A shard's messages of lines, read by a thread of its own up to `_LINES_AHEAD` messages ahead
    of the merge: the merge takes the shards' lines in group id order, and a shard that could only
    send when its next line is due would wait for the others (a third of the time of computing
    its groups, measured); further ahead, it waits in the shard (the pipe holds it back)."""

    def __init__(self, connection: Connection, processes: list[Any], connections: list[Connection]) -> None:
        self._queue: queue.Queue[tuple[bytes, Any] | BaseException] = queue.Queue(_LINES_AHEAD)
        threading.Thread(target=self._read, args=(connection, processes, connections), daemon=True).start()

    def _read(self, connection: Connection, processes: list[Any], connections: list[Connection]) -> None:
        try:
            while True:
                raw = _receive(connection, processes, connections)
                self._queue.put((raw[:1], _body(raw)[0]))
                if raw[:1] == b"d":
                    return
        except BaseException as exc:  # raised in the merge, as if read there
            self._queue.put(exc)

    def next(self) -> tuple[bytes, Any]:
        """("l", lines) or ("d", the number of groups) of the shard, in the order sent."""
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item


def _shard_main(shard: int, count: int, partitions: int | None, bootstrap: str, security: KafkaSecurity,
                timeout_s: float, jobs: list[tuple[str, int, int]], cut: Cut, window_days: int,
                connection: Connection) -> None:
    """A shard process (see the module's docstring); its messages are `_frame`s."""
    def send(tag: str, *body: Any, to: int = 0) -> None:
        connection.send_bytes(_frame(tag, *body, to=to))

    try:
        _shard(shard, count, partitions, bootstrap, security, timeout_s, jobs, cut, window_days, connection,
               send)
    except Exception as exc:  # one line for the auditor, not a lost worker
        send("e", *errors.report(exc, "a shard process"))
    finally:
        connection.close()


class _Inbox:
    """What the caller sends, read by a thread of its own as it comes, so that the caller never
    waits on a shard that is itself sending."""

    def __init__(self, connection: Connection) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._stash: dict[str, list[Any]] = {}
        threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: Connection) -> None:
        try:
            while True:
                raw = connection.recv_bytes()
                self._queue.put((chr(raw[0]), *_body(raw)))
        except (EOFError, OSError):
            self._queue.put(("h",))

    def take(self, tag: str, n: int = 1) -> list[Any]:
        """The next `n` messages tagged `tag` (any other kept for later); a halt, or the caller
        gone, ends the shard."""
        out = self._stash.pop(tag, [])
        while len(out) < n:
            message = self._queue.get()
            if message[0] == "h":
                raise SystemExit(0)
            if message[0] == tag:
                out.append(message)
            else:
                self._stash.setdefault(message[0], []).append(message)
        self._stash[tag] = out[n:]
        return out[:n]


def _shard(shard: int, count: int, partitions: int | None, bootstrap: str, security: KafkaSecurity,
           timeout_s: float, jobs: list[tuple[str, int, int]], cut: Cut, window_days: int,
           connection: Connection, send: Any) -> None:
    gc.disable()  # as `replay.bulk`: facts make no cycles
    inbox = _Inbox(connection)
    stats = ReplayStats()
    facts: list[Fact] = []

    def batch(topic: str, partition: int, records: list[Any]) -> None:
        offsets = [r.offset for r in records]
        decoded = [decode_value(r.value, topic, partition, r.offset, lean=True) for r in records]
        facts.extend(read_facts([(topic, partition, offsets, decoded)], cut, stats))
        send("p", len(records))

    if jobs:
        asyncio.run(read_partitions(bootstrap, security, timeout_s, jobs, lambda total: send("s", total),
                                    batch))
    else:
        send("s", 0)
    check = ShardCheck.of(facts)
    send("c", (stats.records, stats.events, stats.invalid, stats.not_yet_known, stats.not_yet_happened),
         stats.by_topic, check.keys, check.targets, check.incidents, check.call_ins)
    settled = Shard(facts)  # while the caller checks: settling needs no other shard
    facts.clear()
    inbox.take("g")
    own = settled.memberships()
    send("m", encode_facts(own))
    memberships = list(own)
    for _, data in inbox.take("m", count - 1):
        memberships += decode_facts(data)
    parts = settled.parts(memberships, owner_function(count, partitions))
    del settled, memberships
    for other in range(count):
        if other != shard:
            send("x", encode_parts(parts.pop(other, {})), to=other)
    pieces = [parts.pop(shard, {})] + [decode_parts(data) for _, data in inbox.take("x", count - 1)]
    lines: list[tuple[str, bytes]] = []
    size = groups = 0
    for item in group_lines(pieces, window_days):
        lines.append(item)
        groups += 1
        size += len(item[1])
        if size >= _LINE_BYTES:
            send("l", lines)
            lines, size = [], 0
    send("l", lines)
    send("d", groups)
