"""`gvi-audit`: verify the event log, replay it, reconstruct any date, explain every derived fact.

    gvi-audit verify  [--public-keys FILE] [--grace-seconds S] [--json]
    gvi-audit replay  [--as-of T] [--known-at T2] [--out FILE] [--compare-live] [--readers N]
    gvi-audit explain GROUP [--case INCIDENT_ID] [--as-of T] [--known-at T2] [--json] [--readers N]
    gvi-audit export  --format jsonl|csv [--out FILE]

Reads Kafka (assign + seek, no consumer group), replay and explain in one reader process per core
unless --readers says otherwise; the one thing it writes is an export's entry on the access log.
The auditor authenticates with the key in GVI_AUDITOR_KEY against the auditors file
GVI_AUDITORS_FILE (in development, the public dev file by default); that file's name for the key is
who the access log says exported. verify checks the source topics, the access log and the
data-protection topic, and that erased persons' keys are gone and no retention deadline is overdue
(services.privacy.verify). An export
writes its access-log entry (who, role, when, how many person references; no personal data) and
waits for Kafka to acknowledge it before it writes any output; if it cannot, it exports nothing.
Results go to stdout (or --out), a progress bar and the summary to stderr. Exit codes: 0 done
(verify: the log is intact), 1 verify found a problem (or replay --compare-live a difference), 2 a
usage, configuration or access error, an unknown group or case, 3 Kafka unreachable (or it did not
acknowledge an export's access-log entry: nothing was exported).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from services.audit.access import KafkaAccessLog, count_person_refs, export_entry
from services.audit.auditors import Auditor, load_auditors
from services.audit.errors import AuditError, ConfigError
from services.audit.explain import explain_group, render_text
from services.audit.export import (
    Pseudonymiser,
    event_rows,
    load_pseudonym_key,
    state_rows,
    write_csv,
    write_jsonl,
)
from services.audit.kafka_log import LogReader
from services.audit.progress import ProgressBar
from services.audit.readers import default_readers, read_batches
from services.audit.replay import (
    Cut,
    ReplayStats,
    bulk,
    first_difference,
    live_document,
    read_facts,
    replay,
    state_lines,
)
from services.audit.settings import DEV_DATA_DIR, AuditCliSettings, chained_topics
from services.audit.shard_server import start_fork_server
from services.audit.sharding import ShardsDisagree, shard_plan, sharded_lines
from services.audit.signing import PublicKeys, load_public_keys
from services.audit.verify import Problem, verify_log
from services.contracts import GROUP_STATE_TOPIC
from services.privacy.verify import audit_findings
from services.sanctions.domain import effective_facts

__all__ = ["main", "parse_time"]

DEV_AUDITORS_FILE = Path("deploy/config/auditors.dev.toml")


def parse_time(text: str, *, end_of_day: bool = True) -> datetime:
    """RFC 3339 with an offset, or a date (YYYY-MM-DD), meaning the end of that day in UTC."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day, clock_time.max if end_of_day else clock_time.min, UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time: give RFC 3339 with an offset "
                                         "(2024-03-01T12:00:00Z) or a date (2024-03-01)") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset: add Z or +01:00, a time without one is "
                                         "ambiguous")
    return value.astimezone(UTC)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gvi-audit", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--bootstrap", help="Kafka host:port[,...] (default: $KAFKA_BOOTSTRAP_SERVERS)")
    parser.add_argument("--topics", help="source topics, comma-separated (default: "
                                         "$GVI_AUDIT_SOURCE_TOPICS or incidents,notifications,sanctions)")
    parser.add_argument("--checkpoint-topic",
                        help="default: $GVI_AUDIT_CHECKPOINT_TOPIC or audit-checkpoints")
    parser.add_argument("--access-log-topic",
                        help="where exports are logged; verify checks it with the source topics "
                             "(default: $GVI_AUDIT_ACCESS_LOG_TOPIC or access-log)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for Kafka (default 10)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    verify = commands.add_parser("verify", help="recompute every hash chain and check every checkpoint")
    verify.add_argument("--public-keys", type=Path, help="the audit public keys file "
                                                         "(default: $GVI_AUDIT_PUBLIC_KEYS_FILE)")
    verify.add_argument("--grace-seconds", type=float, default=900.0,
                        help="records newer than this may lack a checkpoint yet (default 900)")
    verify.add_argument("--json", action="store_true", help="the report as JSON on stdout")

    def cut_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--as-of", type=parse_time, metavar="T",
                         help="only events that happened by T (time)")
        sub.add_argument("--known-at", type=parse_time, metavar="T2",
                         help="only events the intake had accepted by T2 (recordedtime)")
        sub.add_argument("--readers", type=_positive, metavar="N", default=None,
                         help="read the log in N processes (default: one per core; 1 reads in this one)")

    replay_cmd = commands.add_parser("replay", help="every group's state from the log, by the rules")
    cut_options(replay_cmd)
    replay_cmd.add_argument("--out", type=Path, help="write the states here instead of stdout")
    replay_cmd.add_argument("--compare-live", action="store_true",
                            help="also read the processor's live group states and exit 1 unless they are "
                                 "byte-identical to the replay (no --as-of or --known-at)")
    replay_cmd.add_argument("--in-one-process", action="store_true",
                            help="compute the rules in this process from what the reader processes read, "
                                 "rather than in the reader processes, each for some groups (the default "
                                 "with several readers): slower, about the same memory (see "
                                 "docs/operations.md)")
    replay_cmd.add_argument("--group-state-topic", default=GROUP_STATE_TOPIC, help=argparse.SUPPRESS)

    explain = commands.add_parser("explain", help="the rules and input events behind a group's cases")
    explain.add_argument("group")
    explain.add_argument("--case", metavar="INCIDENT_ID")
    cut_options(explain)
    explain.add_argument("--json", action="store_true")

    export = commands.add_parser("export", help="events and derived state for evaluators")
    export.add_argument("--format", choices=("jsonl", "csv"), required=True)
    export.add_argument("--out", type=Path)
    return parser


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
    """`state_lines` of the admitted facts: in shard processes (`sharding`), unless
    `--in-one-process`, `--readers 1` or the log is not keyed as the intake keys it; otherwise in
    this process, from reader processes."""
    readers = run.args.readers or default_readers()
    label = "replay"
    if not run.args.in_one_process and readers > 1:
        start_fork_server()  # already running if `command` started it (it imports the code meanwhile)
        reader = run.reader()
        plan = shard_plan(reader, run.topics, readers)
        if len(plan.jobs) > 1:
            stats = ReplayStats()
            bar = run.progress("replay")
            produced = sharded_lines(reader.bootstrap, plan, cut, stats, window_days=run.settings.window_days,
                                     security=run.settings.kafka_security(), timeout_s=run.args.timeout,
                                     progress=bar)
            try:
                first = next(produced)
            except ShardsDisagree as exc:
                bar.close()  # the log is read again, with a bar of its own on the next line
                run.say(f"replaying in one process: {exc}")
                label = "replay (in one process)"
            else:
                return itertools.chain([first], produced), stats
    facts, stats = run.facts(cut, label)
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
    derived = replay(facts, window_days=run.settings.window_days)
    explanation = explain_group(derived.groups.get(run.args.group), effective_facts(facts), run.args.group,
                                case_id=run.args.case)
    if run.args.json:
        print(json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False))
    else:
        sys.stdout.write(render_text(explanation))
    _summary(run, stats, len(derived.groups))
    return 0


def _export(run: _Run) -> int:
    personal = run.auditor.role.sees_personal_data
    key = None if personal else load_pseudonym_key(
        run.settings.pseudonym_key_file, development=run.settings.development, data_dir=DEV_DATA_DIR)
    facts, _ = run.facts(Cut(), "export", in_order=True)  # rows in log order
    derived = replay(facts, window_days=run.settings.window_days)
    rows = [*event_rows(facts, Pseudonymiser(key)), *state_rows(dict(derived.groups))]
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
    args = _parser().parse_args(argv)
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


if __name__ == "__main__":
    raise SystemExit(main())
