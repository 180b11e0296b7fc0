"""Audit benchmark: `gvi-audit replay` (and `verify`) throughput and memory, beside a raw kafka-python
consumer reading the same topics in the same run.

It writes a synthetic multi-year log (1,000,000 events at scale 1) to the three source topics of the
bench's own broker: groups, memberships, warnings, incidents with later re-attributions, sanctions
naming a group or only a person, support offers and retractions, with `recordedtime` days to weeks
after `time`. Then, in the same run:
* the baseline: one raw `KafkaConsumer` (assign + seek, read_committed) counts every record, in a
  command of its own (`devtools.bench.raw_read`) timed as `gvi-audit` is, from its start to its exit;
* `gvi-audit replay --out /dev/null` runs as the auditor would run it (its own process, started as
  the console script starts it: `python -m services.audit.cli`); events/s is over the process's
  whole life. It reads the log in reader processes (one per core) and computes the rules in its
  own process. The raw read and the replay run one after the other `PAIRS` times, and the pair
  with the median ratio is the figure (each pair's ratio is printed too). The targets are the
  replay's own: >= 20,000 events/s and < 1 GB for 1,000,000 events; its share of the raw read is
  shown, not judged. Its memory is the peak, sampled every 50 ms, of the proportional set size
  (PSS) summed over the replay process and its reader processes (shared pages counted once), or
  its own `wait4` peak resident size if that is larger;
* `gvi-audit verify` (the hash chains over every record; no checkpointer runs, so nothing is
  checked against signatures: this is the chaining cost alone).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from devtools.bench.common import Figure, broker_for_bench, exit_code, print_table
from services.contracts import Service, canonical_json, parse_event

__all__ = ["AuditResult", "main", "make_log", "median_pair", "run_audit_bench"]

START = datetime(2017, 1, 1, tzinfo=UTC)
NAN = float("nan")
_INCIDENTS, _NOTIFICATIONS, _SANCTIONS = (Service.INCIDENTS.topic, Service.NOTIFICATIONS.topic,
                                        Service.SANCTIONS.topic)


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def make_log(n: int, seed: int = 5) -> Iterator[tuple[str, bytes, bytes]]:
    """(topic, key, value) of `n` accepted events, as the intakes would have written them."""
    rng = random.Random(seed)
    history = _History(rng, n, [f"grp-{i}" for i in range(max(10, n // 2000))])
    for i in range(n):
        when = START + timedelta(minutes=i * 1_500_000 / max(n, 1))
        entry = history.entry(i, when)
        if entry is None:
            continue
        topic, key, source, type_, data = entry
        recorded = when + timedelta(hours=rng.uniform(1, 24 * 40))
        yield topic, key, canonical_json({
            "specversion": "1.0", "id": f"ev-{i}", "source": f"/agencies/{source}", "type": type_,
            "time": _iso(when), "datacontenttype": "application/json", "data": data,
            "recordedtime": _iso(recorded), "agency": source})


@dataclass
class _History:
    """What `make_log` has told so far, to draw its next event from."""

    rng: random.Random
    n: int
    groups: list[str]
    incidents: list[tuple[str, str]] = field(default_factory=list)
    sanctions: list[tuple[str, str, str]] = field(default_factory=list)

    def entry(self, i: int, when: datetime) -> tuple[str, bytes, str, str, dict[str, Any]] | None:
        """The `i`th event: (topic, key, agency, type, data), or None when there is none to tell."""
        rng, n, groups, incidents, sanctions = self.rng, self.n, self.groups, self.incidents, self.sanctions
        group = rng.choice(groups)
        roll = rng.random()
        if i < len(groups):
            return _NOTIFICATIONS, groups[i].encode(), "police", "gvi.group.registered.v1", {
                "group_id": groups[i], "name": f"Group {i}", "area": "Seved"}
        if roll < 0.05:
            return _NOTIFICATIONS, group.encode(), "probation", "gvi.warning.delivered.v1", {
                "group_id": group, "channel": "home_visit"}
        if roll < 0.10:
            start = when - timedelta(days=30)
            return _NOTIFICATIONS, group.encode(), "police", "gvi.membership.assessed.v1", {
                "person_ref": f"pol:p-{rng.randrange(n // 20 + 1)}", "group_id": group,
                "valid_from": _iso(start), "valid_until": _iso(start + timedelta(days=365)),
                "evidence": "Seen with members twice.", "source_grade": "B"}
        if roll < 0.13:
            return _NOTIFICATIONS, group.encode(), "civil-society", "gvi.support.offered.v1", {
                "group_id": group, "person_ref": f"civ:s-{i}", "service": "housing"}
        if roll < 0.43:
            incident = f"inc-{i}"
            incidents.append((incident, group))
            return _INCIDENTS, f"incident:{incident}".encode(), "police", "gvi.incident.reported.v1", {
                "incident_id": incident, "kind": "shooting", "area": "Seved", "confirmed": True, "killed": 0,
                "injured": 1, "suspected_group_ids": [group], "victim_group_ids": [rng.choice(groups)]}
        if roll < 0.53 and incidents:
            incident, _ = rng.choice(incidents[-500:])
            return _INCIDENTS, f"incident:{incident}".encode(), "police", "gvi.incident.attributed.v1", {
                "incident_id": incident, "confirmed": True, "suspected_group_ids": [group],
                "victim_group_ids": [], "confidence": "medium", "reason": "Review after forensic results."}
        if roll < 0.88:
            named = incidents[-1][0] if incidents and rng.random() < 0.3 else None
            data: dict[str, Any] = {"kind": "arrest", "group_id": group}
            if named:
                data["incident_id"] = named
            sanctions.append((f"ev-{i}", group, "police"))
            return _SANCTIONS, group.encode(), "police", "gvi.sanction.recorded.v1", data
        if roll < 0.98:
            person = f"pol:p-{rng.randrange(n // 20 + 1)}"
            key = f"person:{person}"  # the real key is a digest; its value does not matter here
            return _SANCTIONS, key.encode(), "prosecutor", "gvi.sanction.recorded.v1", {
                "kind": "prosecution", "person_ref": person}
        if sanctions:
            target, target_key, source = rng.choice(sanctions[-1000:])
            return _SANCTIONS, target_key.encode(), source, "gvi.event.retracted.v1", {
                "retracted_event_id": target, "reason": "Entered in error."}
        return None


def _write(bootstrap: str, n: int) -> int:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024,
                             max_request_size=8 * 1024 * 1024)
    count = 0
    for topic, key, value in make_log(n):
        if count < 500:
            parse_event(json.loads(value), allow_intake_attributes=True)  # the log is valid
        producer.send(topic, key=key, value=value)
        count += 1
    producer.flush()
    producer.close()
    return count


def _raw_read(bootstrap: str) -> tuple[float, int]:
    """(seconds, records) of the baseline: `devtools.bench.raw_read` as a command of its own, timed
    as `gvi-audit` is (see `_command`)."""
    argv = [sys.executable, "-m", "devtools.bench.raw_read", bootstrap]
    elapsed, _, code, out = _command(argv, dict(os.environ))
    if code != 0:
        raise RuntimeError(f"the raw read exited with {code}")
    return elapsed, int(out)


def _pss(pid: int) -> int:
    """Proportional set size in bytes of `pid` and its descendants (0 for any that are gone)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
        children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                    for c in (task / "children").read_text().split()]
    except (OSError, ValueError):
        return total
    return total + sum(_pss(c) for c in children)


def _gvi_audit(bootstrap: str, *args: str) -> tuple[float, int, int]:
    """(seconds, peak memory in bytes, exit code) of one `gvi-audit` run (see `_command`)."""
    env = {**os.environ, "GVI_ENV": "development", "GVI_AUDITOR_KEY": "dev-auditor-key",
           "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    argv = [sys.executable, "-m", "services.audit.cli", "--no-progress", *args]
    elapsed, peak, code, _ = _command(argv, env)
    return elapsed, peak, code


def _command(argv: list[str], env: dict[str, str]) -> tuple[float, int, int, str]:
    """(seconds, peak memory in bytes, exit code, what it printed) of one command, timed from just
    before it starts to its exit: the larger of its own peak resident size and the peak PSS of it
    and its children together, sampled every 50 ms."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE)
    peak = [0]
    done = threading.Event()
    printed: list[bytes] = []

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _pss(proc.pid))

    def drain() -> None:  # a replay's document goes to a file; what is printed here is short
        assert proc.stdout is not None
        printed.append(proc.stdout.read())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, max(usage.ru_maxrss * 1024, peak[0]), proc.returncode, b"".join(printed).decode()


PAIRS = 3
"""How many times the raw read and the replay run, one after the other: the machines are shared, and
a single pair's ratio moves by a few points with what else runs; the median pair is the figure."""


@dataclass(frozen=True)
class AuditResult:
    figures: list[Figure]
    """The median pair's replay, then verify (each beside the raw read)."""
    events: int
    replay_peak: int
    """The largest peak memory of the replay's runs."""
    ratios: list[float]
    """Each pair's replay / raw read, in the order run."""


def median_pair(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """The (raw seconds, replay seconds) whose ratio (raw / replay) is the median of `pairs` (of an
    even number, the upper middle one)."""
    return sorted(pairs, key=lambda pair: pair[0] / pair[1])[len(pairs) // 2]


def run_audit_bench(bootstrap: str, *, scale: float = 1.0) -> AuditResult:
    written = _write(bootstrap, int(1_000_000 * scale))
    pairs: list[tuple[float, float, int]] = []  # (raw seconds, replay seconds, replay peak)
    for _ in range(PAIRS):
        raw_s, n = _raw_read(bootstrap)  # every record of the topics (`make bench` gives each a broker)
        if n < written:
            raise RuntimeError(f"the raw consumer read {n} records of the {written} written")
        replay_s, peak, code = _gvi_audit(bootstrap, "replay", "--out", os.devnull)
        if code != 0:
            raise RuntimeError(f"gvi-audit replay exited with {code}")
        pairs.append((raw_s, replay_s, peak))
    raw_s, replay_s = median_pair([(raw, replay) for raw, replay, _ in pairs])
    replay_rss = max(peak for _, _, peak in pairs)
    key_dir = Path("var/audit")
    if not (key_dir / "signing-key.pub").exists():
        from services.audit.library import generate_key_file
        generate_key_file(key_dir / "signing-key.pem")
    verify_s, _, _ = _gvi_audit(bootstrap, "verify", "--grace-seconds", "1e9")
    figures = [Figure("replay (all groups)", n / replay_s, NAN, NAN, n / raw_s, NAN, NAN),
               Figure("verify (hash chains)", n / verify_s, NAN, NAN, n / raw_s, NAN, NAN)]
    return AuditResult(figures, n, replay_rss, [raw / replay for raw, replay, _ in pairs])


def report(result: AuditResult) -> None:
    figures, n, rss = result.figures, result.events, result.replay_peak
    replay, verify = figures[0], figures[1]

    def memory(label: str, peak: int) -> tuple[str, bool]:
        per_million = peak / n * 1_000_000 if n < 1_000_000 else peak
        return (f"{label} of 1,000,000 events < 1 GB peak memory ({peak / 2**20:,.0f} MiB for {n:,}"
                + ("" if n >= 1_000_000 else f"; ~{per_million / 2**20:,.0f} MiB scaled") + ")",
                per_million < 2**30)

    print_table(f"Audit ({n:,} events) beside a raw kafka-python consumer of the same topics", figures, [
        (f"replay >= 20,000 events/s ({replay.events_per_s:,.0f})", replay.events_per_s >= 20_000),
        memory("replay", rss),
        (f"replay: {replay.ratio:.1%} of the raw read (the median of {len(result.ratios)} pairs: "
         + ", ".join(f"{r:.1%}" for r in result.ratios) + ")", None),
        (f"verify: {verify.ratio:.1%} of the raw read", None),
    ])


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devtools.bench.audit")
    parser.add_argument("scale", nargs="?", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--scale", dest="scale_option", type=float, default=1.0,
                        help="fraction of the 1,000,000-event log (default 1)")
    args = parser.parse_args()
    scale = args.scale if args.scale is not None else args.scale_option
    with broker_for_bench() as bootstrap:
        report(run_audit_bench(bootstrap, scale=scale))
    return exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
