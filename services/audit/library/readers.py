"""Reading and decoding many partitions at once: one reader process per core, each with its own consumer.

Every read here is aiokafka's, through `services.infra.feed.read_to_end` (whose record parsing is in
C), but decoding and validating each event costs far more than reading it, so one process reads and
decodes a log no faster than one core allows. `read_batches` splits the partitions over several
reader processes (started fresh, not forked: a forked process would inherit its parent's event loop
and sockets); each reads its partitions as `LogReader` does (`assign` + `seek`, no consumer group,
no commits, `read_committed`) up to the ends the caller took in one snapshot; decodes each record
with `decoding.decode_value`, as the caller would; and sends each batch's offsets and facts back
over a pipe in `decoding.packed` form, which the caller rebuilds at a fraction of the cost of
decoding.

With one reader (`readers=1`) nothing is started: the caller's own `LogReader` reads, and the
caller decodes.
"""

from __future__ import annotations

import asyncio
import marshal
import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from services.audit.library import errors
from services.audit.library.decoding import Packed, decode_value, packed, unpacked
from services.audit.library.kafka_log import (
    LogReader,
    Progress,
    TopicPartition,
    quiet_client_logs,
    read_failure,
)
from services.followthrough import Fact
from services.infra.feed import FEED_ERRORS, read_to_end
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity

__all__ = ["FactBatch", "default_readers", "read_batches", "read_partitions"]

FactBatch = tuple[str, int, list[int], list[Fact | None]]
"""(topic, partition, offsets, facts) of consecutive records of one partition, in offset order;
None for a record that is not a valid event (see `decoding.decode_value`)."""

_PIECE = 5_000
"""Records per message from a reader process: small enough to keep the pipes and the consumers'
buffers small, large enough that a message costs little per record."""


_FETCH_BYTES = 4 * 1024 * 1024
"""A reader process's fetch size: its records go on at once, so a small buffer costs no speed and
keeps each process small."""


def default_readers() -> int:
    """One reader per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def read_batches(reader: LogReader, topics: Sequence[str], *, readers: int = 1,
                 security: KafkaSecurity = PLAINTEXT, timeout_s: float = 10.0,
                 progress: Progress | None = None) -> Iterator[FactBatch]:
    """Every committed record of `topics`, from the beginning to the ends they have now, decoded,
    as batches (several partitions' batches interleaved). `readers` > 1 reads in that many
    processes (at most one per partition)."""
    partitions = [tp for topic in topics for tp in reader.partitions(topic)]
    ends = reader.end_offsets(partitions)
    shares = balanced_shares(partitions, ends, readers)
    if len(shares) <= 1:
        for batch in reader.read(partitions, progress=progress, ends=ends):
            topic, partition = batch[0].topic, batch[0].partition
            yield (topic, partition, [r.offset for r in batch],
                   [decode_value(r.value, topic, partition, r.offset) for r in batch])
        return
    yield from _read_in_processes(reader.bootstrap, shares, ends, security, timeout_s, progress)


def balanced_shares(partitions: list[TopicPartition], ends: Mapping[TopicPartition, int],
                    readers: int) -> list[list[TopicPartition]]:
    """The partitions that have records, split into at most `readers` sets of about equal size
    (largest first, each to the lightest set)."""
    with_records = sorted((tp for tp in partitions if ends.get(tp, 0) > 0), key=lambda tp: -ends[tp])
    shares: list[list[TopicPartition]] = [[] for _ in range(max(1, min(readers, len(with_records))))]
    loads = [0] * len(shares)
    for tp in with_records:
        lightest = loads.index(min(loads))
        shares[lightest].append(tp)
        loads[lightest] += ends[tp]
    return shares


def _read_in_processes(bootstrap: str, shares: list[list[TopicPartition]], ends: Mapping[TopicPartition, int],
                       security: KafkaSecurity, timeout_s: float,
                       progress: Progress | None) -> Iterator[FactBatch]:
    context = multiprocessing.get_context("spawn")
    workers: dict[Connection, Any] = {}
    try:
        for share in shares:
            receive, send = context.Pipe(duplex=False)
            jobs = [(tp.topic, tp.partition, ends[tp]) for tp in share]
            process = context.Process(target=_reader_main, args=(bootstrap, security, timeout_s, jobs, send),
                                      name="gvi-audit-reader", daemon=True)
            process.start()
            send.close()
            workers[receive] = process
        totals: dict[Connection, int] = {}
        done = 0
        while workers:
            for connection in wait(list(workers)):
                assert isinstance(connection, Connection)
                try:
                    # from our own reader process, over its own pipe: nothing else can write there
                    message = marshal.loads(connection.recv_bytes())  # noqa: S302
                except EOFError:
                    process = workers.pop(connection)
                    process.join()
                    raise errors.AuditError(f"a reader process stopped without finishing "
                                            f"(exit code {process.exitcode})") from None
                tag = message[0]
                if tag == "b":
                    _, topic, partition, offsets, items = message
                    done += len(offsets)
                    yield topic, partition, offsets, [
                        None if item is None else unpacked(item, topic, partition, at)
                        for at, item in zip(offsets, items, strict=True)]
                    if progress is not None and len(totals) == len(shares):
                        progress(done, sum(totals.values()))
                elif tag == "s":
                    totals[connection] = message[1]
                elif tag == "d":
                    workers.pop(connection).join()
                    connection.close()
                else:  # "e": the reader's error, raised here as the same kind of error
                    raise errors.reported(message[1], message[2])
        if progress is not None:
            progress(done, done)
    finally:
        for connection, process in workers.items():
            process.terminate()
            process.join()
            connection.close()


def _packed(value: bytes | None, topic: str, partition: int, offset: int) -> Packed | None:
    fact = decode_value(value, topic, partition, offset)
    return None if fact is None or value is None else packed(fact, value)


def _reader_main(bootstrap: str, security: KafkaSecurity, timeout_s: float,
                 jobs: list[tuple[str, int, int]], send: Connection) -> None:
    """A reader process: its partitions' facts up to the given ends, in pieces, over `send`."""
    quiet_client_logs()
    try:
        def started(total: int) -> None:
            send.send_bytes(marshal.dumps(("s", total)))

        def batch(topic: str, partition: int, records: list[Any]) -> None:
            send.send_bytes(marshal.dumps(("b", topic, partition, [r.offset for r in records],
                                           [_packed(r.value, topic, partition, r.offset) for r in records])))

        asyncio.run(read_partitions(bootstrap, security, timeout_s, jobs, started, batch))
        send.send_bytes(marshal.dumps(("d",)))
    except Exception as exc:  # one line for the auditor, not a lost worker
        send.send_bytes(marshal.dumps(("e", *errors.report(exc, "a reader process"))))
    finally:
        send.close()


async def read_partitions(bootstrap: str, security: KafkaSecurity, timeout_s: float,
                          jobs: list[tuple[str, int, int]], started: Callable[[int], None],
                          batch: Callable[[str, int, list[Any]], None]) -> None:
    """`jobs`' (topic, partition, end) records, from the beginning to the end, as `batch(topic,
    partition, records)` calls; first `started(total offsets)`. Read as `LogReader.read` reads
    (`services.infra.feed.read_to_end`: `assign` + `seek`, no group, no commits, `read_committed`,
    up to the given ends, a stall is an error), in pieces of at most `_PIECE` records."""
    ends = {TopicPartition(topic, partition): end for topic, partition, end in jobs}
    began: list[int] = []

    def start(total: int) -> None:
        began.append(total)
        started(total)

    try:
        async for tp, records in read_to_end(
                bootstrap, list(ends), client_id="gvi-audit-reader", security=security, ends=ends,
                started=start, fetch_max_bytes=_FETCH_BYTES,
                max_partition_fetch_bytes=_FETCH_BYTES, max_poll_records=_PIECE, check_crcs=False,
                request_timeout_ms=max(int(timeout_s * 1000), 5000) + 1000):
            batch(tp.topic, tp.partition, records)
    except FEED_ERRORS as exc:
        raise read_failure(bootstrap, exc, started=bool(began)) from exc
