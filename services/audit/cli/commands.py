"""What each `gvi-audit` command does (`verify`, `replay`, `explain`, `export`), and `main`; the
command line itself is `arguments`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from services.audit.cli.arguments import parser
from services.audit.cli.progress import ProgressBar
from services.audit.cli.settings import AuditCliSettings
from services.audit.library import (
    DEV_DATA_DIR,
    AuditError,
    Auditor,
    ConfigError,
    Cut,
    KafkaAccessLog,
    LogReader,
    Problem,
    Pseudonymiser,
    PublicKeys,
    ReplayStats,
    SealedValues,
    bulk,
    chained_topics,
    count_person_refs,
    default_readers,
    event_rows,
    explain_group,
    export_entry,
    first_difference,
    live_document,
    load_auditors,
    load_pseudonym_key,
    load_public_keys,
    quiet_client_logs,
    read_batches,
    read_facts,
    render_text,
    replay_facts,
    state_lines,
    state_rows,
    verify_log,
    write_csv,
    write_jsonl,
)
from services.contracts import PERSON_KEYS_TOPIC
from services.followthrough import effective_facts
from services.privacy.claims import MasterKeyError
from services.privacy.verify import audit_findings

__all__ = ["main"]

DEV_AUDITORS_FILE = Path("deploy/config/auditors.dev.toml")


class _Run:
    """One command's context: settings, the authenticated auditor, the reader, stderr reporting."""

    def __init__(self, args: argparse.Namespace, settings: AuditCliSettings, stack: ExitStack) -> None:
        self.args = args
        self.settings = settings
        self.stack = stack
        self.bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
        self.topics = [t for t in (args.topics.split(",") if args.topics else settings.topics) if t]
        self.checkpoint_topic = args.checkpoint_topic or settings.checkpoint_topic
        self.access_log_topic = args.access_log_topic or settings.access_log_topic
        self.auditor = self._authenticate()
        self.started = time.monotonic()

    def _authenticate(self) -> Auditor:
        path = self.settings.auditors_file
        if path is None:
            if not self.settings.development:
                raise ConfigError("GVI_AUDITORS_FILE is not set: the auditors file says who may audit")
            path = DEV_AUDITORS_FILE
        directory = load_auditors(path, development=self.settings.development)
        return directory.authenticate(self.settings.auditor_key)

    def reader(self) -> LogReader:
        return self.stack.enter_context(LogReader(self.bootstrap, timeout_s=self.args.timeout,
                                                  security=self.settings.kafka_security()))

    def progress(self, label: str) -> ProgressBar:
        bar = ProgressBar(label, enabled=False if self.args.no_progress else None)
        self.stack.callback(bar.close)
        return bar

    def say(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def output(self) -> IO[bytes]:
        out = getattr(self.args, "out", None)
        if out is None:
            return sys.stdout.buffer
        return self.stack.enter_context(open(out, "wb"))

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def facts(self, cut: Cut, label: str, *, in_order: bool = False) -> tuple[list[Any], ReplayStats]:
        """The admitted facts of the source topics. Read in several processes (see `--readers`)
        unless `in_order`: then in one, partition by partition in offset order."""
        stats = ReplayStats()
        readers = 1 if in_order else (getattr(self.args, "readers", None) or default_readers())
        batches = read_batches(self.reader(), self.topics, readers=readers,
                               security=self.settings.kafka_security(), timeout_s=self.args.timeout,
                               progress=self.progress(label))
        facts = list(read_facts(batches, cut, stats))
        return facts, stats

    def public_keys(self) -> PublicKeys:
        path = self.args.public_keys or self.settings.public_keys_file
        if path is None and self.settings.development and (DEV_DATA_DIR / "signing-key.pub").exists():
            path = DEV_DATA_DIR / "signing-key.pub"
        if path is None:
            raise ConfigError("no audit public keys: pass --public-keys or set GVI_AUDIT_PUBLIC_KEYS_FILE")
        return load_public_keys(path)


def _data_protection_problems(run: _Run) -> list[Problem]:
    """Erased persons have no key left, and no retention deadline is overdue (services.privacy.verify)."""
    reader = run.reader()
    found = audit_findings(lambda topics: reader.read_topics(topics, missing_ok=True), run.topics,
                           data_protection_topic=run.settings.data_protection_topic)
    return [Problem(f.kind, f.topic, None, None, f.detail) for f in found]


def _verify(run: _Run) -> int:
    keys = run.public_keys()
    topics = chained_topics(run.topics, run.access_log_topic, run.settings.data_protection_topic)
    report = verify_log(run.reader(), topics, run.checkpoint_topic, keys,
                        grace_seconds=run.args.grace_seconds, progress=run.progress("verify"))
    report.problems += _data_protection_problems(run)
    if run.args.json:
        body = {"ok": report.ok, "records": report.records, "checkpoints": report.checkpoints,
                "unverified_records": report.unverified_records,
                "problems": [{"kind": p.kind, "topic": p.topic, "partition": p.partition, "offset": p.offset,
                              "detail": p.detail} for p in report.problems],
                "partitions": [{"topic": p.topic, "partition": p.partition, "records": p.records,
                                "checkpoints": p.checkpoints, "unverified_records": p.unverified_records}
                               for p in report.partitions]}
        print(json.dumps(body, indent=2, sort_keys=True))
    else:
        for problem in report.problems:
            print(problem)
        print(report.summary())
    run.say(f"verified {report.records:,} records against {report.checkpoints:,} checkpoints "
            f"({len(keys)} trusted key(s)) in {run.elapsed():.1f}s")
    return 0 if report.ok else 1


def _cut(args: argparse.Namespace) -> Cut:
    return Cut(as_of=args.as_of, known_at=args.known_at)


def _summary(run: _Run, stats: ReplayStats, groups: int) -> None:
    rate = stats.records / max(run.elapsed(), 1e-6)
    run.say(f"replayed {stats.events:,} events of {stats.records:,} records ({stats.invalid} not valid "
            f"events, {stats.not_yet_known} not yet known, {stats.not_yet_happened} not yet happened) from "
            f"{len(run.topics)} topics in {run.elapsed():.1f}s ({rate:,.0f} records/s): {groups} groups")


def _replayed_lines(run: _Run, cut: Cut) -> tuple[Iterator[bytes], ReplayStats]:
    """`state_lines` of the admitted facts, computed in this process from what the reader processes
    read (see `--readers`)."""
    facts, stats = run.facts(cut, "replay")
    return state_lines(facts, window_days=run.settings.window_days), stats


def _replay(run: _Run) -> int:
    cut = _cut(run.args)
    if run.args.compare_live and (cut.as_of or cut.known_at):
        raise ConfigError("--compare-live compares today's states: leave out --as-of and --known-at")
    live = (live_document(run.reader(), run.args.group_state_topic, progress=run.progress("live view"))
            if run.args.compare_live else None)
    with bulk():
        produced, stats = _replayed_lines(run, cut)
        out = run.output()
        lines: list[bytes] = []  # kept only to compare them with the live view
        line = next(produced)
        for following in produced:  # the last item is the number of groups
            out.write(line)
            if live is not None:
                lines.append(line)
            line = following
    document = b"".join(lines)
    _summary(run, stats, int(line))
    if live is not None:
        difference = first_difference(document, live)
        run.say("the live group states are byte-identical to the replay" if difference is None
                else f"the live group states differ from the replay: {difference}")
        return 0 if difference is None else 1
    return 0


def _explain(run: _Run) -> int:
    facts, stats = run.facts(_cut(run.args), "explain")
    derived = replay_facts(facts, window_days=run.settings.window_days)
    explanation = explain_group(derived.groups.get(run.args.group), effective_facts(facts), run.args.group,
                                case_id=run.args.case)
    if run.args.json:
        print(json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render_text(explanation))
    _summary(run, stats, len(derived.groups))
    return 0


def _sealed_values(run: _Run) -> SealedValues:
    """The sealed person fields of the source topics and the key ring that opens them (a role that
    allows personal data only: it needs the master key)."""
    try:
        ring = run.settings.key_ring()
    except MasterKeyError as exc:
        raise ConfigError(f"an export with personal data opens the sealed person fields: {exc}") from exc
    for batch in run.reader().read_topics([PERSON_KEYS_TOPIC]):
        for record in batch:
            ring.apply(record.key.decode(), record.value)
    records = (record.value for batch in run.reader().read_topics(run.topics) for record in batch)
    return SealedValues(records, ring.data_key)


def _export(run: _Run) -> int:
    personal = run.auditor.role.sees_personal_data
    key = None if personal else load_pseudonym_key(
        run.settings.pseudonym_key_file, development=run.settings.development, data_dir=DEV_DATA_DIR)
    sealed = _sealed_values(run) if personal else None
    facts, _ = run.facts(Cut(), "export", in_order=True)  # rows in log order
    derived = replay_facts(facts, window_days=run.settings.window_days)
    rows = [*event_rows(facts, Pseudonymiser(key), sealed), *state_rows(dict(derived.groups))]
    entry = export_entry(run.auditor, person_refs=count_person_refs(rows), time=datetime.now(UTC))
    KafkaAccessLog(run.bootstrap, run.access_log_topic, timeout_s=run.args.timeout,
                   security=run.settings.kafka_security()).record(entry)  # before any output is opened
    out = run.output()
    count = write_jsonl(rows, out) if run.args.format == "jsonl" else write_csv(rows, out)
    run.say(f"exported {count:,} rows ({len(facts):,} events, {len(derived.groups)} group states, "
            f"{entry.person_refs:,} person references) for {run.auditor.name}: person references "
            f"{'as they are (role ' + run.auditor.role.value + ')' if personal else 'pseudonymised'}; "
            f"logged as access {entry.access_id} on {run.access_log_topic}")
    return 0


_COMMANDS = {"verify": _verify, "replay": _replay, "explain": _explain, "export": _export}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    quiet_client_logs()  # every error is one line, `gvi-audit: error: ...`
    try:
        settings = AuditCliSettings()
    except ValidationError as exc:
        print(f"gvi-audit: error: bad setting in the environment: {exc.errors()[0]['msg']} "
              f"({exc.errors()[0]['loc']})", file=sys.stderr)
        return 2
    try:
        with ExitStack() as stack:
            return _COMMANDS[args.command](_Run(args, settings, stack))
    except AuditError as exc:
        print(f"gvi-audit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("gvi-audit: interrupted", file=sys.stderr)
        return 130

