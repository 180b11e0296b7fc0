"""What `gvi-privacy` does, one coroutine per command, over Kafka (`Context`).

Erasure on request writes, in this order:
1. `PersonsErased` (basis request, the claims about to be shredded): from here on `gvi-audit
   verify` reports the pseudonyms as `not_erased` until their keys are gone, so a crash before
   step 2 is visible;
2. the tombstones of every claim of the person (`KafkaKeyStore.shred`), applied to the ring;
3. `RequestClosed` (outcome erased).
Run again after a crash it finishes the job: a `PersonsErased` record of the case that already
lists the claims is not written twice; once the person has no live key, it says so (exit 4) and
closes the request if it is still open. The retention job writes its `PersonsErased` (basis
retention) before shredding too; a second run with the same clock finds nothing due.

`rewrap` writes `KeysRewrapped` after the fact, once the ring holds the re-wrapped claims: what
it documents already happened, and nothing checks it against the key topic. If that write fails
the command exits 3 and says to run it again; the next run, finding nothing left under the
previous keys, writes the record because the topic does not yet say the rotation is complete
(`_record_rewrap`). Otherwise a run that changes nothing writes nothing.

Nothing printed or logged names a person: counts, case numbers and pseudonyms only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.contracts.envelope import CloudEvent
from services.contracts.protection import (
    Basis,
    DataProtectionRecord,
    KeysRewrapped,
    Outcome,
    PersonsErased,
    RequestClosed,
    RequestKind,
    RequestOpened,
)
from services.privacy.claims import MasterKey, MasterKeyError
from services.privacy.kafka_io import (
    KafkaUnavailable,
    read_events,
    read_protection_records,
    write_record,
)
from services.privacy.kafka_keys import KafkaKeyStore
from services.privacy.keys import KeyRing
from services.privacy.requests import (
    Case,
    cases,
    check_correction,
    describe_rewrap,
    last_rewrap,
    render_report,
)
from services.privacy.retention import deadlines, due
from services.privacy.settings import PrivacySettings
from services.privacy.store import KeyStoreUnavailable

__all__ = ["EXIT_NOTHING", "EXIT_REFUSED", "EXIT_UNAVAILABLE", "EXIT_USAGE", "Context", "PrivacyError",
           "close_request", "erase", "open_request", "report", "retention", "rewrap"]

log = logging.getLogger("gvi.privacy")

EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_NOTHING = 1, 2, 3, 4
RETENTION_OFFICER = "retention-job"
REWRAP_OFFICER = "master-key-rewrap"


class PrivacyError(Exception):
    """An expected failure: its message is the one line shown, `code` the exit code."""

    def __init__(self, message: str, code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Context:
    settings: PrivacySettings
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    timeout: float = 30.0
    say: Callable[[str], None] = print

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap_servers

    async def records(self) -> list[DataProtectionRecord]:
        return await read_protection_records(self.bootstrap, self.settings.data_protection_topic,
                                             security=self.settings.kafka_security(), timeout=self.timeout)

    async def write(self, record: DataProtectionRecord) -> None:
        await write_record(self.bootstrap, self.settings.data_protection_topic, record,
                           security=self.settings.kafka_security(), timeout=self.timeout)

    async def events(self, *, naming_persons: bool = False) -> list[CloudEvent]:
        return await read_events(self.bootstrap, self.settings.topics, naming_persons=naming_persons,
                                 security=self.settings.kafka_security(), timeout=self.timeout)

    def key_ring(self) -> KeyRing:
        """An empty ring with the master keys of the settings (current and previous)."""
        try:
            return self.settings.key_ring()
        except MasterKeyError as exc:
            raise PrivacyError(str(exc), EXIT_USAGE) from exc

    @contextlib.asynccontextmanager
    async def key_store(self, ring: KeyRing | None = None) -> AsyncIterator[KafkaKeyStore]:
        """The key topic read to its end into `ring`, and followed while in use (to read shredding
        back). Without `ring`, one with a throwaway key: enough to find and shred claims, not to
        look anyone up."""
        ring = ring if ring is not None else KeyRing(MasterKey(secrets.token_bytes(32)))
        store = KafkaKeyStore(self.bootstrap, ring, client_id="gvi-privacy",
                              security=self.settings.kafka_security(), timeout=self.timeout)
        store.start()
        try:
            try:
                await asyncio.wait_for(store.caught_up.wait(), self.timeout)
            except TimeoutError as exc:
                raise KeyStoreUnavailable(f"the key topic was not read within {self.timeout:g}s") from exc
            yield store
        finally:
            await store.stop()


def _stamp(ctx: Context) -> dict[str, Any]:
    """A new record's id and time."""
    return {"record_id": uuid.uuid4().hex, "time": ctx.clock()}


def _case(found: dict[str, Case], case_number: str) -> Case:
    case = found.get(case_number)
    if case is None:
        raise PrivacyError(f"no request has case number {case_number}; open it first with "
                           "`gvi-privacy request open`")
    return case


async def open_request(ctx: Context, *, case_number: str, kind: RequestKind, reason: str, officer: str,
                       contested: str | None) -> int:
    if kind is RequestKind.CORRECTION and contested is None:
        raise PrivacyError("a correction request names the contested event: --contested-event \"SOURCE ID\"",
                           EXIT_USAGE)
    if case_number in cases(await ctx.records()):
        raise PrivacyError(f"case number {case_number} is already used; a new request needs a new number")
    await ctx.write(RequestOpened(**_stamp(ctx), officer=officer, case_number=case_number, kind=kind,
                                  reason=reason, contested_event=contested))
    ctx.say(f"request {case_number} ({kind.value}) opened")
    return 0


async def erase(ctx: Context, *, person_ref: str, case_number: str, reason: str, officer: str) -> int:
    case = _case(cases(await ctx.records()), case_number)
    if case.opened.kind is not RequestKind.ERASURE:
        raise PrivacyError(f"request {case_number} is a {case.opened.kind.value} request, not an erasure")
    async with ctx.key_store(ctx.key_ring()) as store:
        key = store.ring.key_for(person_ref)
        if key is None:
            return await _nothing_to_erase(ctx, case, reason, officer)
        if not case.is_open:
            raise PrivacyError(f"request {case_number} is closed; a new erasure needs a new request")
        claims = store.ring.claims_of([key.pseudonym])
        if not any(set(claims) <= set(done.pseudonyms) for done in case.erased):
            await ctx.write(PersonsErased(**_stamp(ctx), officer=officer, basis=Basis.REQUEST,
                                          case_number=case_number, reason=reason, pseudonyms=tuple(claims),
                                          persons=1))
        shredded = await store.shred(claims)
    await ctx.write(RequestClosed(**_stamp(ctx), officer=officer, case_number=case_number,
                                  outcome=Outcome.ERASED, reason=reason))
    log.info("erasure on request: 1 person, %d claim(s) shredded", shredded)
    ctx.say(f"erased 1 person ({shredded} key claim(s) shredded); request {case_number} closed")
    return 0


async def _nothing_to_erase(ctx: Context, case: Case, reason: str, officer: str) -> int:
    number = case.opened.case_number
    if case.is_open:
        await ctx.write(RequestClosed(**_stamp(ctx), officer=officer, case_number=number,
                                      outcome=Outcome.ERASED, reason=reason))
    closed = f"request {number} closed" if case.is_open else f"request {number} was already closed"
    ctx.say(f"nothing to erase: this person has no live key (already erased, or never named in an "
            f"event); {closed}")
    return EXIT_NOTHING


async def close_request(ctx: Context, *, case_number: str, outcome: Outcome, reason: str, officer: str,
                        linked: Sequence[str]) -> int:
    if outcome is Outcome.ERASED:
        raise PrivacyError("an erasure request is closed by `gvi-privacy erase`", EXIT_USAGE)
    case = _case(cases(await ctx.records()), case_number)
    if not case.is_open:
        raise PrivacyError(f"request {case_number} is already closed")
    if outcome is Outcome.CORRECTED:
        if case.opened.kind is not RequestKind.CORRECTION:
            raise PrivacyError(f"request {case_number} is an {case.opened.kind.value} request, "
                               "not a correction")
        try:
            problems = check_correction(case.opened.contested_event, linked, await ctx.events())
        except ValueError as exc:
            raise PrivacyError(str(exc), EXIT_USAGE) from exc
        if problems:
            raise PrivacyError("; ".join(problems))
    await ctx.write(RequestClosed(**_stamp(ctx), officer=officer, case_number=case_number,
                                  outcome=outcome, reason=reason, linked_events=tuple(linked)))
    ctx.say(f"request {case_number} closed ({outcome.value})")
    return 0


async def report(ctx: Context, *, include_closed: bool, fmt: str) -> int:
    """The requests (`render_report`); as text, the last master key rewrap below them."""
    records = await ctx.records()
    ctx.say(render_report(cases(records).values(), ctx.clock(), include_closed=include_closed,
                          fmt=fmt).rstrip("\n"))
    rotated = last_rewrap(records)
    if fmt == "text" and rotated is not None:
        ctx.say(describe_rewrap(rotated))
    return 0


async def retention(ctx: Context, *, dry_run: bool) -> int:
    """One run of the retention job at `ctx.clock()`."""
    now, policy = ctx.clock(), ctx.settings.retention_policy()
    events = await ctx.events(naming_persons=True)
    async with ctx.key_store() as store:
        late = [p for p in due(deadlines(events, policy), now) if store.ring.claims_of([p])]
        claims = store.ring.claims_of(late)
        if not late or dry_run:
            log.info("retention at %s: %d person(s) due%s", now.isoformat(), len(late),
                     " (dry run: nothing shredded)" if late else "")
            ctx.say(f"{len(late)} person(s) past their retention deadline"
                    + (" (dry run: nothing shredded)" if late else ""))
            return 0
        await ctx.write(PersonsErased(
            **_stamp(ctx), officer=RETENTION_OFFICER, basis=Basis.RETENTION, pseudonyms=tuple(claims),
            persons=len(late), reason=f"retention deadline passed (membership assessments "
            f"{policy.membership_months} months after valid_until, other person-level data "
            f"{policy.person_years} years after the event)"))
        shredded = await store.shred(claims)
    log.info("retention at %s: %d person(s) erased, %d claim(s) shredded", now.isoformat(), len(late),
             shredded)
    ctx.say(f"erased {len(late)} person(s) past their retention deadline ({shredded} key claim(s) shredded)")
    return 0


async def rewrap(ctx: Context, *, dry_run: bool, officer: str | None = None) -> int:
    """After the master key was rotated: write every claim under a previous master key again under
    the current one (`KafkaKeyStore.rewrap`), record it (`_record_rewrap`), then say how many live
    claims each key holds. Exit 0 once every live claim is under the current key (the previous keys
    can go), 1 while some are not; 3 if the record could not be written."""
    async with ctx.key_store(ctx.key_ring()) as store:
        ring, current = store.ring, store.ring.master.fingerprint
        if dry_run:
            ctx.say(f"{len(ring.rewrapped())} claim(s) under a previous master key would be re-wrapped "
                    "(dry run)")
            done, shredded, rewrapped_from = 0, 0, []
        else:
            rewrapped_from = sorted(f for f in ring.census() if f is not None and f != current)
            done, shredded = await store.rewrap()
            log.info("rewrap: %d claim(s) re-wrapped under %s, %d erased meanwhile", done, current, shredded)
            ctx.say(f"re-wrapped {done} claim(s) under the current master key {current}"
                    + (f"; {shredded} were erased meanwhile and tombstoned again" if shredded else ""))
        census = ring.census()
        previous = [key.fingerprint for key in ring.previous]
    code = _say_census(ctx, census, current)
    if not dry_run:
        await _record_rewrap(ctx, KeysRewrapped(
            **_stamp(ctx), officer=officer or REWRAP_OFFICER, master=current,
            rewrapped_from=tuple(rewrapped_from), rewrapped=done, erased_meanwhile=shredded,
            live_claims={f: census.get(f, 0) for f in (current, *previous)},
            live_claims_other_keys=census.get(None, 0)), changed=bool(done or shredded),
            rotating=bool(previous))
    return code


def _say_census(ctx: Context, census: Counter[str | None], current: str) -> int:
    census = Counter(census)
    under_current = census.pop(current, 0)
    if not census:
        ctx.say(f"all {under_current} live claim(s) are under the current master key: no claim needs "
                "the previous keys any more")
        return 0
    others = [f"{count} under {fingerprint}" for fingerprint, count in census.items() if fingerprint]
    if census.get(None):
        others.append(f"{census[None]} under keys not given here")
    ctx.say(f"{under_current} live claim(s) are under the current master key; still under other keys: "
            + ", ".join(others))
    return EXIT_REFUSED


async def _record_rewrap(ctx: Context, record: KeysRewrapped, *, changed: bool, rotating: bool) -> None:
    """Write `record` if the rewrap wrote to the key topic. A run that wrote nothing (so no live
    claim is under a previous key it was given) writes it only when a rotation is under way
    (previous keys given) and the topic does not say yet that it is complete: its latest
    `KeysRewrapped` is for another current key, or still counts claims under a previous key (a
    rewrap whose record failed, or a rotation with nothing to re-wrap). A failed write is exit 3,
    telling the operator to run the rewrap again, which then writes that record."""
    if not changed:
        latest = last_rewrap(await ctx.records()) if rotating else None
        if not rotating or (latest is not None and _says_complete(latest, record.master)):
            return
    try:
        await ctx.write(record)
    except KafkaUnavailable as exc:
        raise PrivacyError(
            f"the claims are re-wrapped, but the record of it is missing from the data-protection topic "
            f"({exc}); run `gvi-privacy rewrap` again with the same keys: it writes the record",
            EXIT_UNAVAILABLE) from exc
    ctx.say(f"recorded on the data-protection topic (record {record.record_id})")


def _says_complete(record: KeysRewrapped, current: str) -> bool:
    """Whether `record` says every live claim it could read is under `current`."""
    return record.master == current and not any(
        count for fingerprint, count in record.live_claims.items() if fingerprint != current)
