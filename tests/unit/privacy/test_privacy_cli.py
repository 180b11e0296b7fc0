"""`gvi-privacy`: argument handling and exit codes, and each command's records, in order, against
an in-memory key store and data-protection topic (the real broker: tests/integration)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.contracts.envelope import CloudEvent
from services.contracts.protection import (
    Basis,
    DataProtectionRecord,
    Outcome,
    PersonsErased,
    RequestClosed,
    RequestKind,
)
from services.privacy import actions
from services.privacy.actions import Context, PrivacyError
from services.privacy.claims import MasterKey
from services.privacy.cli import main, parser
from services.privacy.keys import KeyRing
from services.privacy.settings import PrivacySettings
from services.privacy.store import MemoryKeyStore
from tests.unit.privacy.test_privacy_retention import membership

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
SETTINGS = PrivacySettings(GVI_ENV="development")


class LoggedStore(MemoryKeyStore):
    def __init__(self, log: list[str]) -> None:
        super().__init__(MasterKey(b"m" * 32))
        self.log = log

    async def shred(self, pseudonyms: Sequence[str]) -> int:
        self.log.append("shred")
        return await super().shred(pseudonyms)


class FakeContext(Context):
    """The data-protection topic and the key topic in memory; what was written, in order."""

    def __init__(self, events: Sequence[CloudEvent] = ()) -> None:
        self.lines: list[str] = []
        super().__init__(SETTINGS, clock=lambda: NOW, say=self.lines.append)
        self.log: list[str] = []
        self.written: list[DataProtectionRecord] = []
        self.store = LoggedStore(self.log)
        self.source_events = list(events)

    async def records(self) -> list[DataProtectionRecord]:
        return list(self.written)

    async def write(self, record: DataProtectionRecord) -> None:
        self.log.append(record.action)
        self.written.append(record)

    async def events(self, *, naming_persons: bool = False) -> list[CloudEvent]:
        return self.source_events

    @contextlib.asynccontextmanager
    async def key_store(self, ring: KeyRing | None = None) -> AsyncIterator[Any]:
        yield self.store


def run(ctx: FakeContext, action: Any, **kw: Any) -> int:
    return asyncio.run(action(ctx, **kw))


def opened(ctx: FakeContext, case: str = "DP-1", kind: RequestKind = RequestKind.ERASURE, **kw: Any) -> None:
    assert run(ctx, actions.open_request, case_number=case, kind=kind, reason="asked in writing",
               officer="dpo", contested=kw.get("contested")) == 0


def erase(ctx: FakeContext, ref: str = "police:p-1", case: str = "DP-1") -> int:
    return run(ctx, actions.erase, person_ref=ref, case_number=case, reason="granted", officer="dpo")


def test_erasure_writes_the_record_first_then_shreds_then_closes() -> None:
    ctx = FakeContext()
    asyncio.run(ctx.store.keys_for(["police:p-1", "police:p-2"]))
    opened(ctx)
    assert erase(ctx) == 0
    assert ctx.log == ["request_opened", "persons_erased", "shred", "request_closed"]
    erased = ctx.written[1]
    assert isinstance(erased, PersonsErased) and erased.basis is Basis.REQUEST and erased.persons == 1
    assert ctx.store.ring.key_for("police:p-1") is None and ctx.store.ring.key_for("police:p-2") is not None
    assert all("police:p-1" not in line for line in ctx.lines)
    assert "police:p-1" not in "".join(r.to_json().decode() for r in ctx.written)


def test_erasing_again_says_nothing_to_erase_and_writes_nothing() -> None:
    ctx = FakeContext()
    asyncio.run(ctx.store.keys_for(["police:p-1"]))
    opened(ctx)
    assert erase(ctx) == 0
    before = list(ctx.log)
    assert erase(ctx) == actions.EXIT_NOTHING
    assert ctx.log == before and "already closed" in ctx.lines[-1]


def test_a_crash_after_the_record_is_finished_by_a_second_run_without_a_second_record() -> None:
    ctx = FakeContext()
    asyncio.run(ctx.store.keys_for(["police:p-1"]))
    opened(ctx)
    pseudonym = ctx.store.ring.pseudonyms()[0]
    ctx.written.append(PersonsErased(record_id="x", time=NOW, officer="dpo", basis=Basis.REQUEST,
                                     case_number="DP-1", reason="granted", pseudonyms=(pseudonym,),
                                     persons=1))
    assert erase(ctx) == 0
    assert ctx.log == ["request_opened", "shred", "request_closed"]


def test_an_unknown_person_closes_the_open_request_with_exit_4() -> None:
    ctx = FakeContext()
    opened(ctx)
    assert erase(ctx, ref="police:never-named") == actions.EXIT_NOTHING
    assert ctx.log == ["request_opened", "request_closed"]
    assert isinstance(ctx.written[-1], RequestClosed) and ctx.written[-1].outcome is Outcome.ERASED


@pytest.mark.parametrize("setup, message", [
    ("none", "no request has case number DP-1"),
    ("correction", "is a correction request"),
    ("closed", "is closed"),
])
def test_erasure_is_refused_without_an_open_erasure_request(setup: str, message: str) -> None:
    ctx = FakeContext()
    asyncio.run(ctx.store.keys_for(["police:p-1"]))
    if setup == "correction":
        opened(ctx, kind=RequestKind.CORRECTION, contested="/agencies/police e-1")
    elif setup == "closed":
        opened(ctx)
        assert run(ctx, actions.close_request, case_number="DP-1", outcome=Outcome.REFUSED, reason="no",
                   officer="dpo", linked=[]) == 0
    with pytest.raises(PrivacyError, match=message):
        erase(ctx)
    assert "shred" not in ctx.log and ctx.store.ring.key_for("police:p-1") is not None


def test_a_case_number_is_used_once_and_a_correction_names_its_contested_event() -> None:
    ctx = FakeContext()
    opened(ctx)
    with pytest.raises(PrivacyError, match="already used"):
        opened(ctx)
    with pytest.raises(PrivacyError, match="contested-event"):
        opened(ctx, case="DP-2", kind=RequestKind.CORRECTION)


def test_a_correction_closes_only_with_its_linked_events_found() -> None:
    contested = membership("psn-" + "a" * 26, "2026-06-30T00:00:00Z")
    ctx = FakeContext([contested])
    opened(ctx, kind=RequestKind.CORRECTION, contested=f"{contested.source} {contested.id}")
    with pytest.raises(PrivacyError, match="not in the source topics"):
        run(ctx, actions.close_request, case_number="DP-1", outcome=Outcome.CORRECTED, reason="fixed",
            officer="dpo", linked=["/agencies/police e-404"])
    assert ctx.log == ["request_opened"]


def test_retention_shreds_the_due_persons_once() -> None:
    ctx = FakeContext()
    keys = asyncio.run(ctx.store.keys_for(["police:old", "police:new"]))
    old, new = keys["police:old"].pseudonym, keys["police:new"].pseudonym
    ctx.source_events = [membership(old, "2025-06-30T00:00:00Z"), membership(new, "2026-11-30T00:00:00Z")]
    assert run(ctx, actions.retention, dry_run=True) == 0
    assert ctx.log == [] and ctx.lines[-1].startswith("1 person(s)")
    assert run(ctx, actions.retention, dry_run=False) == 0
    assert ctx.log == ["persons_erased", "shred"]
    [record] = ctx.written
    assert isinstance(record, PersonsErased) and record.basis is Basis.RETENTION
    assert record.pseudonyms == (old,) and record.persons == 1 and record.case_number is None
    assert ctx.store.ring.pseudonyms() == [new]
    assert run(ctx, actions.retention, dry_run=False) == 0  # the same clock: nothing more to do
    assert ctx.log == ["persons_erased", "shred"]


def test_new_master_key_prints_a_key_or_writes_a_new_file(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    assert main(["new-master-key"]) == 0
    assert len(base64.b64decode(capsys.readouterr().out.strip())) == 32
    assert main(["new-master-key", str(tmp_path / "master.key")]) == 0
    assert MasterKey.from_file(tmp_path / "master.key", development=False).fingerprint
    assert (tmp_path / "master.key").stat().st_mode & 0o777 == 0o600
    before = (tmp_path / "master.key").read_bytes()
    assert main(["new-master-key", str(tmp_path / "master.key")]) == 2  # never overwritten
    assert (tmp_path / "master.key").read_bytes() == before


@pytest.mark.parametrize("argv", [
    [], ["erase", "--case", "1", "--reason", "r", "--officer", "o"],
    ["request", "open", "--case", "1", "--kind", "deletion", "--reason", "r", "--officer", "o"],
    ["request", "close", "--case", "1", "--outcome", "erased", "--reason", "r", "--officer", "o"],
    ["requests", "--format", "xml"], ["retention", "--now", "yesterday"],
    ["retention", "--now", "2026-01-01T00:00"], ["rewrap", "--officer", "x" * 65],
    ["request", "open", "--case", "1", "--kind", "erasure", "--reason", "r", "--officer", ""],
])
def test_bad_arguments_are_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(argv)
    assert exit_.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_parsed_arguments() -> None:
    args = parser().parse_args(["request", "close", "--case", "DP-1", "--outcome", "corrected",
                                "--reason", "r", "--officer", "o", "--linked-event", "/a r-1",
                                "--linked-event", "/a c-1"])
    assert (args.outcome, args.linked_event) == (Outcome.CORRECTED, ["/a r-1", "/a c-1"])
    args = parser().parse_args(["retention", "--now", "2026-12-01T00:00:00+01:00", "--dry-run"])
    assert args.now == datetime(2026, 11, 30, 23, tzinfo=UTC) and args.dry_run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_without_a_broker_it_is_one_line_and_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    settings = PrivacySettings(GVI_ENV="development", KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{_free_port()}")
    assert main(["--timeout", "1", "requests"], settings=settings) == 3
    err = capsys.readouterr().err
    assert err.startswith("gvi-privacy: error: Kafka at 127.0.0.1:") and err.count("\n") == 1


def test_every_with_now_and_a_bad_setting_are_usage_errors(capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["retention", "--every", "60", "--now", "2026-01-01T00:00:00Z"], settings=SETTINGS) == 2
    monkeypatch.setenv("GVI_RETENTION_PERSON_YEARS", "many")
    assert main(["requests"]) == 2
    assert "GVI_RETENTION_PERSON_YEARS" in capsys.readouterr().err


def test_rewrap_with_an_unreadable_previous_key_is_a_usage_error_before_kafka(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert parser().parse_args(["rewrap", "--dry-run"]).dry_run
    missing = tmp_path / "old.key"
    settings = PrivacySettings(GVI_ENV="development", KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{_free_port()}",
                               GVI_PERSONAL_DATA_PREVIOUS_MASTER_KEY_FILES=str(missing))
    assert main(["--timeout", "1", "rewrap"], settings=settings) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gvi-privacy: cannot read the personal-data master key file {missing}")
