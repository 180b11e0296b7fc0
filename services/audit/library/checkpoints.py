"""What the checkpointer publishes to `audit-checkpoints`, signed: checkpoints and verification results.

Record key `checkpoint:<topic>:<partition>` (so one partition's checkpoints stay in order) holds a
`Checkpoint`; key `verification` holds a `VerificationRecord`. Values are canonical JSON; the
signature is Ed25519 over the canonical JSON of every other field, base64.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.audit.library.chain import LOCATOR_BYTES, ChainState
from services.audit.library.signing import PublicKeys, SigningKey
from services.contracts import canonical_json
from services.contracts.types import UtcDatetime

__all__ = ["Checkpoint", "Signed", "VerificationRecord", "checkpoint_key", "decode", "make_checkpoint"]


class Signed(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: str
    signature: str = ""

    def signed_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))

    def to_json(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    def signature_ok(self, keys: PublicKeys) -> bool:
        return keys.verify(self.key_id, self.signature, self.signed_bytes())


class Checkpoint(Signed):
    """The chain of `topic`/`partition` after the record at `offset`: `count` committed records from
    offset 0, head `chain` (hex). `segment_offsets` and `segment_digests` (8 hex-encoded bytes per
    record, concatenated) list the records since the previous checkpoint, at `prev_offset`."""

    kind: Literal["checkpoint"] = "checkpoint"
    version: Literal[1] = 1
    topic: str
    partition: Annotated[int, Field(ge=0)]
    offset: int
    count: Annotated[int, Field(ge=0)]
    chain: str
    time: UtcDatetime
    prev_offset: int
    segment_offsets: tuple[int, ...]
    segment_digests: str

    def segment(self) -> list[tuple[int, str]]:
        width = LOCATOR_BYTES * 2
        return [(o, self.segment_digests[i * width:(i + 1) * width])
                for i, o in enumerate(self.segment_offsets)]


class VerificationRecord(Signed):
    """The result of a verification run the checkpointer made, for the dashboard and the metric."""

    kind: Literal["verification"] = "verification"
    time: UtcDatetime
    ok: bool
    records: int
    checkpoints: int
    unverified_records: int
    problems: tuple[str, ...]


def checkpoint_key(topic: str, partition: int) -> bytes:
    return f"checkpoint:{topic}:{partition}".encode()


def make_checkpoint(state: ChainState, segment: list[tuple[int, bytes]], prev_offset: int, time: Any,
                    key: SigningKey) -> Checkpoint:
    unsigned = Checkpoint(topic=state.topic, partition=state.partition, offset=state.offset,
                          count=state.count, chain=state.head.hex(), time=time, prev_offset=prev_offset,
                          segment_offsets=tuple(o for o, _ in segment),
                          segment_digests="".join(d[:LOCATOR_BYTES].hex() for _, d in segment),
                          key_id=key.key_id)
    return unsigned.model_copy(update={"signature": key.sign(unsigned.signed_bytes())})


def decode(value: bytes | None) -> Checkpoint | VerificationRecord | None:
    """A record of `audit-checkpoints`, or None if it is not one (reported as malformed by verify)."""
    if value is None:
        return None
    try:
        raw = json.loads(value)
        kind = raw.get("kind") if isinstance(raw, dict) else None
        if kind == "checkpoint":
            return Checkpoint.model_validate(raw)
        if kind == "verification":
            return VerificationRecord.model_validate(raw)
    except (ValueError, ValidationError):
        return None
    return None
