"""`gvi-privacy`: the data protection officer's command and the retention job.

    gvi-privacy new-master-key [FILE]
    gvi-privacy request open  --case N --kind erasure|correction --reason TEXT --officer NAME
                              [--contested-event "SOURCE ID"]
    gvi-privacy erase         --person-ref REF --case N --reason TEXT --officer NAME
    gvi-privacy request close --case N --outcome corrected|refused --reason TEXT --officer NAME
                              [--linked-event "SOURCE ID" ...]
    gvi-privacy requests      [--all] [--format text|csv]
    gvi-privacy retention     [--now ISO8601] [--dry-run] [--every SECONDS]
    gvi-privacy rewrap        [--dry-run] [--officer NAME]

Settings from the environment (`PrivacySettings`): KAFKA_BOOTSTRAP_SERVERS and the Kafka security
variables, GVI_ENV, GVI_PERSONAL_DATA_MASTER_KEY_FILE and GVI_PERSONAL_DATA_PREVIOUS_MASTER_KEY_FILES
(erase and rewrap only), GVI_RETENTION_MEMBERSHIP_MONTHS, GVI_RETENTION_PERSON_YEARS. Records go
to the data-protection topic (see `services.privacy.actions` for the order an erasure writes in).
Exit codes: 0 done; 1 refused (no such request, already closed, a correction's linked events not
found, ...); 2 usage or configuration error; 3 Kafka unreachable (the message says what was done
before); 4 nothing to erase (the person has no live key; the request was closed if it was open).
`rewrap` (after the master key was rotated) exits 0 once every live claim is under the current
master key, 1 while some are still under other keys, 3 if its `KeysRewrapped` record could not be
written (run it again: it writes the record).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from services.contracts.protection import Outcome, RequestKind
from services.infra.kafka_security import KafkaSecurityError
from services.privacy.actions import (
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    Context,
    PrivacyError,
    close_request,
    erase,
    open_request,
    report,
    retention,
    rewrap,
)
from services.privacy.claims import MasterKey
from services.privacy.kafka_io import KafkaUnavailable
from services.privacy.settings import PrivacySettings
from services.privacy.store import KeyStoreUnavailable

__all__ = ["main", "parser"]

log = logging.getLogger("gvi.privacy")


def _moment(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time with its offset, e.g. {text}Z")
    return value.astimezone(UTC)


def _new_master_key(path: Path | None) -> int:
    key = MasterKey.generate()
    if path is None:
        print(key)
        return 0
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
            out.write(key + "\n")
    except OSError as exc:
        print(f"gvi-privacy: cannot write {path}: {exc.strerror or exc} (an existing key is never "
              "overwritten)", file=sys.stderr)
        return EXIT_USAGE
    print(f"a new master key is in {path}", file=sys.stderr)
    return 0


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error.get('msg')}" if where else str(error.get("msg"))


def _officer(value: str) -> str:
    """A user name as the data-protection records take it (checked before anything is written)."""
    if not 1 <= len(value) <= 64:
        raise argparse.ArgumentTypeError("an officer's user name is 1 to 64 characters")
    return value


def _who(command: argparse.ArgumentParser) -> None:
    command.add_argument("--case", required=True, dest="case_number", help="the request's case number")
    command.add_argument("--reason", required=True, help="why (kept in the data-protection topic)")
    command.add_argument("--officer", required=True, type=_officer,
                         help="the data protection officer's user name")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="gvi-privacy", description="Data protection requests and retention.")
    top.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for Kafka (default 30)")
    commands = top.add_subparsers(dest="command", required=True)
    new_key = commands.add_parser("new-master-key", help="a new personal-data master key (base64)")
    new_key.add_argument("file", nargs="?", type=Path, help="write it to this new file (mode 0600) "
                         "rather than print it")
    request = commands.add_parser("request", help="open or close a data subject's request")
    steps = request.add_subparsers(dest="step", required=True)
    opening = steps.add_parser("open", help="record a request received")
    _who(opening)
    opening.add_argument("--kind", required=True, type=RequestKind, choices=list(RequestKind))
    opening.add_argument("--contested-event", metavar='"SOURCE ID"', help="a correction's contested event")
    closing = steps.add_parser("close", help="record a request decided (corrected or refused)")
    _who(closing)
    closing.add_argument("--outcome", required=True, type=Outcome,
                         choices=[Outcome.CORRECTED, Outcome.REFUSED])
    closing.add_argument("--linked-event", action="append", default=[], metavar='"SOURCE ID"',
                         help="a correction's retraction and corrected event (repeat)")
    erasing = commands.add_parser("erase", help="shred a person's keys and close the erasure request")
    erasing.add_argument("--person-ref", required=True, help="the person's reference, as agencies post it")
    _who(erasing)
    listing = commands.add_parser("requests", help="the open requests")
    listing.add_argument("--all", action="store_true", dest="include_closed", help="closed ones too")
    listing.add_argument("--format", choices=("text", "csv"), default="text")
    job = commands.add_parser("retention", help="shred the persons past their retention deadline")
    job.add_argument("--now", type=_moment, help="the clock of the run (ISO 8601; default: now)")
    job.add_argument("--dry-run", action="store_true", help="count who is due, shred nothing")
    job.add_argument("--every", type=float, metavar="SECONDS", help="run again every SECONDS (a service)")
    again = commands.add_parser("rewrap", help="after a master key rotation: wrap every claim under a "
                                "previous master key again under the current one")
    again.add_argument("--dry-run", action="store_true", help="count the claims by master key, write nothing")
    again.add_argument("--officer", dest="rewrap_officer", type=_officer, metavar="NAME",
                       help="who ran it, kept in its KeysRewrapped record (default: master-key-rewrap)")
    return top


def _action(args: argparse.Namespace) -> Callable[[Context], Coroutine[Any, Any, int]]:
    who = {"case_number": args.case_number, "reason": args.reason, "officer": args.officer} \
        if hasattr(args, "officer") else {}
    if args.command == "erase":
        return lambda ctx: erase(ctx, person_ref=args.person_ref, **who)
    if args.command == "request" and args.step == "open":
        return lambda ctx: open_request(ctx, kind=args.kind, contested=args.contested_event, **who)
    if args.command == "request":
        return lambda ctx: close_request(ctx, outcome=args.outcome, linked=args.linked_event, **who)
    if args.command == "requests":
        return lambda ctx: report(ctx, include_closed=args.include_closed, fmt=args.format)
    if args.command == "rewrap":
        return lambda ctx: rewrap(ctx, dry_run=args.dry_run, officer=args.rewrap_officer)
    return lambda ctx: retention(ctx, dry_run=args.dry_run)


async def _every(ctx: Context, seconds: float, run: Callable[[Context], Coroutine[Any, Any, int]]) -> int:
    """The retention job as a service: a run every `seconds`; a run that fails is logged and retried
    at the next."""
    while True:
        try:
            await run(ctx)
        except (KafkaUnavailable, KeyStoreUnavailable) as exc:
            log.warning("retention run failed: %s; next run in %gs", exc, seconds)
        await asyncio.sleep(seconds)


def main(argv: Sequence[str] | None = None, *, clock: Callable[[], datetime] | None = None,
         settings: PrivacySettings | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "new-master-key":
        return _new_master_key(args.file)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        if getattr(args, "every", None) is not None and args.now is not None:
            raise PrivacyError("--every runs on the real clock: leave out --now", EXIT_USAGE)
        try:
            settings = settings or PrivacySettings()
        except ValidationError as exc:
            raise PrivacyError(f"configuration: {_first_error(exc)}", EXIT_USAGE) from exc
        except KafkaSecurityError as exc:
            raise PrivacyError(f"configuration: {exc}", EXIT_USAGE) from exc
        now = getattr(args, "now", None)
        fixed = (lambda: now) if now is not None else None
        ctx = Context(settings, clock=fixed or clock or (lambda: datetime.now(UTC)), timeout=args.timeout)
        action = _action(args)
        if getattr(args, "every", None) is not None:
            return asyncio.run(_every(ctx, args.every, action))
        return asyncio.run(action(ctx))
    except ValidationError as exc:  # a value the record refuses (case number, reason length, ...)
        print(f"gvi-privacy: {_first_error(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except PrivacyError as exc:
        print(f"gvi-privacy: {exc}", file=sys.stderr)
        return exc.code
    except (KafkaUnavailable, KeyStoreUnavailable) as exc:
        print(f"gvi-privacy: error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
