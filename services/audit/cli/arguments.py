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
from datetime import UTC, date, datetime
from datetime import time as clock_time
from pathlib import Path

from services.contracts import GROUP_STATE_TOPIC

__all__ = ["parse_time", "parser"]


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


def parser() -> argparse.ArgumentParser:
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
