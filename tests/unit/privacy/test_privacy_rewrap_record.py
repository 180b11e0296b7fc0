"""The `KeysRewrapped` record of the data-protection topic: its contract, when `gvi-privacy rewrap`
writes it (a rewrap that changed something; a missing record made up by the next run; never a dry
run or a run with nothing to do), and that every reader of the topic takes it (the requests, the
report, `gvi-audit verify`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.contracts.protection import (
    DataProtectionRecord,
    KeysRewrapped,
    RequestKind,
    read_protection_record,
)
from services.privacy import actions
from services.privacy.claims import Claim, MasterKey
from services.privacy.cli import parser
from services.privacy.kafka_io import KafkaUnavailable, protection_records_of
from services.privacy.keys import KeyRing
from services.privacy.requests import cases
from services.privacy.retention import RetentionPolicy
from services.privacy.verify import protection_findings
from tests.unit.privacy.test_privacy_cli import NOW, FakeContext, opened, run
from tests.unit.privacy.test_privacy_verify import Record, erased

OLD, NEW, OTHER = MasterKey(b"o" * 32), MasterKey(b"n" * 32), MasterKey(b"x" * 32)


def rewrapped(**kw: Any) -> KeysRewrapped:
    fields: dict[str, Any] = {
        "record_id": "k-1", "time": NOW, "officer": "master-key-rewrap", "master": NEW.fingerprint,
        "rewrapped_from": (OLD.fingerprint,), "rewrapped": 2, "erased_meanwhile": 0,
        "live_claims": {NEW.fingerprint: 3, OLD.fingerprint: 0}} | kw
    return KeysRewrapped(**fields)


class RotatingContext(FakeContext):
    """A key ring with the new key current and the old one previous, holding claims under both."""

    def __init__(self, under_old: Iterable[str] = ("police:p-1", "police:p-2"),
                 under_new: Iterable[str] = ("police:p-3",), previous: Iterable[MasterKey] = (OLD,)) -> None:
        super().__init__()
        self.store.ring = KeyRing(NEW, previous=previous)
        for ref, master in [*((r, OLD) for r in under_old), *((r, NEW) for r in under_new)]:
            claim, _ = Claim.new(master, ref, NOW)
            self.store.ring.apply(claim.pseudonym, claim.to_json())
        self.failing = False

    def key_ring(self) -> KeyRing:
        return self.store.ring

    async def write(self, record: DataProtectionRecord) -> None:
        if self.failing:
            raise KafkaUnavailable("Kafka at kafka:9092 did not take the keys_rewrapped record "
                                   "(TimeoutError)")
        await super().write(record)


def rewraps(ctx: FakeContext) -> list[KeysRewrapped]:
    return [r for r in ctx.written if isinstance(r, KeysRewrapped)]


def test_the_record_round_trips_is_keyed_by_master_key_and_names_no_person() -> None:
    record = rewrapped()
    assert read_protection_record(record.to_json()) == record
    assert record.key() == b"master-key" and record.action == "keys_rewrapped"
    assert b"psn-" not in record.to_json() and b"police:" not in record.to_json()


@pytest.mark.parametrize("bad", [{"master": "not-a-fingerprint"}, {"rewrapped": -1},
                                 {"live_claims": {"ABCDEF0123456789": 1}}, {"pseudonyms": ("psn-a",)}])
def test_the_record_refuses_what_is_not_a_fingerprint_a_count_or_a_field_of_it(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        rewrapped(**bad)


def test_a_rewrap_records_the_keys_and_counts_once_its_claims_are_read_back() -> None:
    ctx = RotatingContext()
    assert run(ctx, actions.rewrap, dry_run=True) == 1
    assert ctx.written == []  # a dry run records nothing
    assert run(ctx, actions.rewrap, dry_run=False) == 0
    [record] = ctx.written
    assert isinstance(record, KeysRewrapped) and record.time == NOW
    assert (record.master, record.rewrapped_from) == (NEW.fingerprint, (OLD.fingerprint,))
    assert (record.rewrapped, record.erased_meanwhile) == (2, 0)
    assert record.live_claims == {NEW.fingerprint: 3, OLD.fingerprint: 0}
    assert record.live_claims_other_keys == 0
    assert ctx.store.ring.census() == {NEW.fingerprint: 3}  # written after the rewrap, not instead of it
    assert b"psn-" not in record.to_json() and "recorded on the data-protection topic" in ctx.lines[-1]
    assert run(ctx, actions.rewrap, dry_run=False) == 0
    assert len(ctx.written) == 1  # nothing left to re-wrap, and the topic says so: no second record


def test_the_record_names_the_officer_who_ran_the_rewrap_when_given() -> None:
    ctx = RotatingContext()
    officer = parser().parse_args(["rewrap", "--officer", "anna"]).rewrap_officer
    assert run(ctx, actions.rewrap, dry_run=False, officer=officer) == 0
    [record] = rewraps(ctx)
    assert record.officer == "anna"
    assert parser().parse_args(["rewrap"]).rewrap_officer is None  # then the record says master-key-rewrap


def test_claims_under_a_key_not_given_are_counted_and_the_exit_is_still_1() -> None:
    ctx = RotatingContext()
    claim, _ = Claim.new(OTHER, "police:p-9", NOW)
    ctx.store.ring.apply(claim.pseudonym, claim.to_json())
    assert run(ctx, actions.rewrap, dry_run=False) == 1
    [record] = rewraps(ctx)
    assert record.rewrapped == 2 and record.live_claims_other_keys == 1
    assert record.live_claims == {NEW.fingerprint: 3, OLD.fingerprint: 0}


def test_a_record_that_could_not_be_written_is_exit_3_and_the_next_run_writes_it() -> None:
    ctx = RotatingContext()
    ctx.failing = True
    with pytest.raises(actions.PrivacyError) as failed:
        run(ctx, actions.rewrap, dry_run=False)
    assert failed.value.code == actions.EXIT_UNAVAILABLE
    assert "run `gvi-privacy rewrap` again" in str(failed.value)
    assert ctx.store.ring.census() == {NEW.fingerprint: 3} and ctx.written == []
    ctx.failing = False
    assert run(ctx, actions.rewrap, dry_run=False) == 0
    [record] = rewraps(ctx)
    assert record.rewrapped == 0 and record.rewrapped_from == ()
    assert record.live_claims == {NEW.fingerprint: 3, OLD.fingerprint: 0}  # the rotation is complete
    assert run(ctx, actions.rewrap, dry_run=False) == 0 and len(rewraps(ctx)) == 1


def test_a_run_without_previous_keys_or_after_a_complete_rotation_writes_nothing() -> None:
    ctx = RotatingContext(under_old=(), previous=())
    assert run(ctx, actions.rewrap, dry_run=False) == 0 and ctx.written == []
    ctx = RotatingContext(under_old=())
    ctx.written.append(rewrapped(live_claims={NEW.fingerprint: 1, OLD.fingerprint: 0}))
    assert run(ctx, actions.rewrap, dry_run=False) == 0 and len(ctx.written) == 1
    ctx.written[0] = rewrapped(live_claims={NEW.fingerprint: 1, OLD.fingerprint: 4})  # not complete then
    assert run(ctx, actions.rewrap, dry_run=False) == 0 and len(rewraps(ctx)) == 2


def test_the_requests_and_verify_take_the_record_and_the_report_shows_the_last_rotation() -> None:
    ctx = RotatingContext()
    opened(ctx, "DP-1", RequestKind.ERASURE)
    assert run(ctx, actions.rewrap, dry_run=False) == 0
    assert list(cases(ctx.written)) == ["DP-1"]
    ctx.lines.clear()
    assert run(ctx, actions.report, include_closed=False, fmt="text") == 0
    assert ctx.lines[0].splitlines()[1].startswith("DP-1")
    assert ctx.lines[-1] == (
        f"last master key rewrap: 2026-12-05T12:00:00Z, 2 claim(s) re-wrapped from {OLD.fingerprint} to "
        f"{NEW.fingerprint}; live claims afterwards: 3 under {NEW.fingerprint} (current), "
        f"0 under {OLD.fingerprint}")
    ctx.lines.clear()
    assert run(ctx, actions.report, include_closed=False, fmt="csv") == 0
    assert len(ctx.lines) == 1 and "rewrap" not in ctx.lines[0]  # the CSV stays one table

    topic = [Record(r.key(), r.to_json()) for r in ctx.written]
    assert protection_records_of(topic) == ctx.written
    topics: dict[str, list[Any]] = {"person-keys": [], "dp": [*topic, Record(
        b"DP-1", erased(["psn-" + "a" * 26], age=timedelta(days=1)).to_json())]}
    assert protection_findings(lambda names: [topics.get(n, []) for n in names], [],
                               data_protection_topic="dp", now=NOW, policy=RetentionPolicy(),
                               grace=timedelta(days=2)) == []
