"""The chain encoding, checkpoints and the verifier's judgement, without a broker."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.checkpointer.keeper import ChainKeeper
from services.audit.library.chain import ChainState, LogRecord, encode_record, genesis
from services.audit.library.checkpoints import Checkpoint, decode
from services.audit.library.signing import PublicKeys, SigningKey
from services.audit.library.verify import PartitionVerifier

KEY = SigningKey(Ed25519PrivateKey.generate())
KEYS = PublicKeys.of(KEY.public)
NOW = datetime(2026, 1, 1, tzinfo=UTC)
START_MS = int((NOW - timedelta(hours=1)).timestamp() * 1000)


def rec(offset: int, value: bytes | None = None, *, key: bytes | None = b"k", ts: int | None = None,
        headers: tuple[tuple[str, bytes | None], ...] = (("h", b"1"),)) -> LogRecord:
    return LogRecord("t", 0, offset, START_MS + offset if ts is None else ts, key,
                     value if value is not None else b"v%d" % offset, headers)


def test_the_encoding_is_length_prefixed_and_documented_byte_for_byte() -> None:
    record = LogRecord("ab", 1, 2, 3, None, b"xyz", (("h", None),))
    assert encode_record(record) == (
        b"\x00\x00\x00\x02ab" + b"\x00\x00\x00\x01" + (2).to_bytes(8, "big") + (3).to_bytes(8, "big")
        + b"\xff\xff\xff\xff" + b"\x00\x00\x00\x03xyz" + b"\x00\x00\x00\x01" + b"\x00\x00\x00\x01h"
        + b"\xff\xff\xff\xff")
    chain = ChainState.start("ab", 1)
    tag = b"gvi-audit-chain/v1\x00\x00\x00\x02ab\x00\x00\x00\x01"
    assert chain.head == genesis("ab", 1) == hashlib.sha256(tag).digest()
    digest = chain.add(record)
    assert chain.head == hashlib.sha256(genesis("ab", 1) + digest).digest() and chain.count == 1


@pytest.mark.parametrize("change", [
    {"key": b"other"}, {"key": None}, {"value": b""}, {"headers": ()}, {"headers": (("h", b"2"),)},
    {"timestamp": 1}, {"offset": 9}, {"topic": "u"}, {"partition": 1}])
def test_every_field_of_a_record_changes_its_encoding(change: dict[str, object]) -> None:
    import dataclasses
    base = rec(3)
    assert encode_record(dataclasses.replace(base, **change)) != encode_record(base)  # type: ignore[arg-type]


def test_no_two_field_splits_encode_alike() -> None:
    assert encode_record(rec(0, b"ab", key=b"c")) != encode_record(rec(0, b"b", key=b"ca"))


def keeper_checkpoints(records: list[LogRecord], every: int = 3) -> list[Checkpoint]:
    keeper = ChainKeeper(KEY, every_records=every, every_seconds=3600)
    keeper.start("t", 0)
    out = []
    for r in records:
        if keeper.add(r, 0.0):
            out.append(keeper.checkpoint(("t", 0), NOW))
            keeper.published(out[-1])
    if keeper.owing(10_000.0):
        out.append(keeper.checkpoint(("t", 0), NOW))
        keeper.published(out[-1])
    return out


def verdict(records: list[LogRecord], checkpoints: list[Checkpoint], grace: float = 900) -> object:
    verifier = PartitionVerifier("t", 0, checkpoints)
    for r in records:
        verifier.add(r)
    return verifier.finish(now=NOW, grace_seconds=grace)


ORIGINAL = [rec(o) for o in (0, 2, 3, 5, 6, 8, 10, 11, 13, 14)]  # a transactional log: markers between


def test_the_keeper_checkpoints_every_n_records_and_on_time_and_signs_them() -> None:
    checkpoints = keeper_checkpoints(ORIGINAL)
    assert [(c.offset, c.count, c.prev_offset) for c in checkpoints] == [
        (3, 3, -1), (8, 6, 3), (13, 9, 8), (14, 10, 13)]
    assert all(c.signature_ok(KEYS) for c in checkpoints)
    assert decode(checkpoints[1].to_json()) == checkpoints[1]
    keeper = ChainKeeper(KEY, every_records=100, every_seconds=5)
    keeper.start("t", 0)
    keeper.add(rec(0), 100.0)
    assert keeper.owing(104.0) == [] and keeper.owing(105.0) == [("t", 0)]


def test_a_changed_field_breaks_the_signature() -> None:
    checkpoint = keeper_checkpoints(ORIGINAL)[0]
    assert not checkpoint.model_copy(update={"count": 4}).signature_ok(KEYS)
    other = PublicKeys.of(Ed25519PrivateKey.generate().public_key())
    assert not checkpoint.signature_ok(other)


def test_an_untouched_transactional_log_verifies_with_its_offset_gaps() -> None:
    assert verdict(ORIGINAL, keeper_checkpoints(ORIGINAL)) is None


def test_a_resumed_chain_continues_where_its_checkpoint_left_it() -> None:
    first = keeper_checkpoints(ORIGINAL[:4])
    keeper = ChainKeeper(KEY, every_records=3, every_seconds=3600)
    assert keeper.start("t", 0, first[-1]) == ORIGINAL[3].offset + 1
    later = []
    for r in ORIGINAL[4:]:
        if keeper.add(r, 0.0):
            later.append(keeper.checkpoint(("t", 0), NOW))
            keeper.published(later[-1])
    uninterrupted = keeper_checkpoints(ORIGINAL)[-1]
    assert (later[-1].offset, later[-1].count, later[-1].chain) == (14, 10, uninterrupted.chain)
    assert verdict(ORIGINAL, first + later) is None


def test_verify_names_an_altered_record() -> None:
    checkpoints = keeper_checkpoints(ORIGINAL)
    tampered = [rec(r.offset, b"edited") if r.offset == 6 else r for r in ORIGINAL]
    problem = verdict(tampered, checkpoints)
    assert problem is not None and (problem.kind, problem.offset) == ("altered", 6)  # type: ignore[attr-defined]


def test_verify_names_a_missing_record_even_when_the_rest_keep_their_offsets() -> None:
    problem = verdict([r for r in ORIGINAL if r.offset != 5], keeper_checkpoints(ORIGINAL))
    assert (problem.kind, problem.offset) == ("missing", 5)  # type: ignore[attr-defined]


def test_verify_names_an_inserted_record() -> None:
    problem = verdict(sorted([*ORIGINAL, rec(7)], key=lambda r: r.offset), keeper_checkpoints(ORIGINAL))
    assert (problem.kind, problem.offset) == ("inserted", 7)  # type: ignore[attr-defined]


def test_verify_still_fails_when_the_checkpoints_around_a_change_are_gone() -> None:
    checkpoints = keeper_checkpoints(ORIGINAL)
    tampered = [rec(r.offset, b"edited") if r.offset == 6 else r for r in ORIGINAL]
    problem = verdict(tampered, [checkpoints[0], checkpoints[2]])  # the one covering offset 6 removed
    assert problem is not None and problem.kind == "diverged"  # type: ignore[attr-defined]


def test_records_left_without_checkpoint_fail_only_after_the_grace_period() -> None:
    checkpoints = keeper_checkpoints(ORIGINAL)[:2]  # the last two deleted
    assert verdict(ORIGINAL, checkpoints, grace=7200) is None
    problem = verdict(ORIGINAL, checkpoints, grace=60)
    assert (problem.kind, problem.offset) == ("unchecked", 9)  # type: ignore[attr-defined]
