"""The hash chain over one partition's committed records, and the exact bytes it hashes.

What the chain covers: every *committed data record* of a source topic partition, as a consumer with
`isolation.level=read_committed` sees it, in offset order, from offset 0. Transaction markers (control
records) and records of aborted transactions are not part of it: they are never visible to the rules,
and a marker's offset is simply skipped. Offsets are part of every record's encoding, so a record that
moved, disappeared or appeared changes the chain from that point on; a gap means a missing *committed
record*, found by comparing offsets with those the signed checkpoints list, never by looking for
holes in the offset sequence (those are normal in a transactional log).

Encoding of one record, version 1 (all integers big-endian):

    enc(record) = str(topic) || i32(partition) || i64(offset) || i64(timestamp_ms)
                  || opt(key) || opt(value) || u32(number of headers)
                  || for each header in log order: str(header key) || opt(header value)
    str(s)      = u32(len(utf8(s))) || utf8(s)
    opt(b)      = u32(0xFFFFFFFF) for null, else u32(len(b)) || b

Chain, with SHA-256 as H:

    digest(record) = H(enc(record))
    head_0         = H("gvi-audit-chain/v1" || str(topic) || i32(partition))     (no record yet)
    head_n         = H(head_{n-1} || digest(record_n))

A checkpoint states (topic, partition, offset of record n, n, head_n) and the first 8 bytes of each
record's digest since the previous checkpoint, so that `verify` can name the record that differs.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["CHAIN_VERSION", "LOCATOR_BYTES", "ChainState", "LogRecord", "RecordLike", "encode_record",
           "genesis", "record_digest"]

CHAIN_VERSION = 1
LOCATOR_BYTES = 8
"""How much of each record's digest a checkpoint lists: enough to locate, the chain is the proof."""

_TAG = b"gvi-audit-chain/v1"
_NULL = b"\xff\xff\xff\xff"
_U32 = struct.Struct(">I")
_POSITION = struct.Struct(">iqq")


@dataclass(frozen=True, slots=True)
class LogRecord:
    """A record as the log holds it: what the chain covers, nothing decoded."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()


class RecordLike(Protocol):
    """What the chain reads of a record: `LogRecord`, or a Kafka client's `ConsumerRecord` as it is."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]]: ...


def _str(text: str) -> bytes:
    raw = text.encode()
    return _U32.pack(len(raw)) + raw


def _opt(raw: bytes | None) -> bytes:
    return _NULL if raw is None else _U32.pack(len(raw)) + raw


def encode_record(record: RecordLike) -> bytes:
    """The exact bytes hashed for a record (see the module docstring)."""
    headers = record.headers or ()
    parts = [_str(record.topic), _POSITION.pack(record.partition, record.offset, record.timestamp),
             _opt(record.key), _opt(record.value), _U32.pack(len(headers))]
    for name, value in headers:
        parts.append(_str(name))
        parts.append(_opt(value))
    return b"".join(parts)


def record_digest(record: RecordLike) -> bytes:
    return hashlib.sha256(encode_record(record)).digest()


def genesis(topic: str, partition: int) -> bytes:
    """The head of a partition's chain before its first record."""
    return hashlib.sha256(_TAG + _str(topic) + struct.pack(">i", partition)).digest()


@dataclass(slots=True)
class ChainState:
    """Where a partition's chain stands: after the record at `offset` (-1: none yet), `count` records."""

    topic: str
    partition: int
    head: bytes
    offset: int = -1
    count: int = 0

    @classmethod
    def start(cls, topic: str, partition: int) -> ChainState:
        return cls(topic, partition, genesis(topic, partition))

    def add(self, record: RecordLike) -> bytes:
        """Chain one record (the next committed one, in offset order); returns its digest."""
        digest = record_digest(record)
        self.extend(record.offset, digest)
        return digest

    def extend(self, offset: int, digest: bytes) -> None:
        """Chain the record at `offset` whose `record_digest` is `digest`."""
        if offset <= self.offset:
            raise ValueError(f"{self.topic}/{self.partition}: offset {offset} after {self.offset}")
        self.head = hashlib.sha256(self.head + digest).digest()
        self.offset = offset
        self.count += 1
