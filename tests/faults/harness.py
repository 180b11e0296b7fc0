"""The fault tier's harness: a fresh broker per scenario, the services as processes, and what a user sees.

`System` starts a KRaft broker on free ports in a directory of its own, creates the topics with
`services.infra.topics` (as `make run` does), and runs each service with the command and environment
`devtools/run.py` gives it (`python -m services.<name>`, `service_env`), each on a free port, its
output in `<name>.log` beside the broker's data. It can SIGKILL and restart the broker or a service.
The readers below look at Kafka as a user or an auditor would: the source topics' records, the
`alerts` topic, and `gvi-audit replay --compare-live`.

Scenario sizes come from the environment (`count`), so that CI can run a bounded version.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from kafka import KafkaAdminClient

from devtools.broker import KafkaBroker, die_with_parent, free_port
from devtools.run import service_env, services_to_run
from services.contracts.group_state_records import group_key
from services.infra.topics import ensure_topics
from tests.audit_support import GVI_AUDIT
from tests.integration.test_intake_kafka import read_topic

REPO = Path(__file__).resolve().parents[2]
INTAKES = ("incidents", "notifications", "sanctions")
PROCESSOR = "sanctions.processor"
SOURCE_TOPICS = INTAKES  # each intake writes the topic of its name
EVERY_SERVICE = tuple(name for name, _ in services_to_run(REPO))  # what `make run` starts
READY_TIMEOUT_S = 60.0
LOG_TAIL_LINES = 25
T = TypeVar("T")


def count(name: str, default: int) -> int:
    """A scenario size: `GVI_FAULT_<NAME>` from the environment, else `default`."""
    return int(os.environ.get(f"GVI_FAULT_{name}", default))


def wait_until(probe: Callable[[], T | None], timeout: float, interval: float = 0.3) -> T | None:
    """The first truthy answer of `probe` within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


class ServiceProcess:
    """One service as `make run` runs it, on a port of its own; restartable on the same port and data."""

    def __init__(self, name: str, bootstrap: str, root: Path) -> None:
        self.name, self.port = name, free_port()
        self.log_path = root / f"{name}.log"
        env = service_env(bootstrap, self.port, os.environ)
        # `make run` keeps the processor's RocksDB in var/processor and the checkpointer's key in
        # var/audit; here both go to the scenario's directory
        env["GVI_PROCESSOR_DATA_DIR"] = str(root / "processor-data")
        env["GVI_AUDIT_DATA_DIR"] = str(root / "audit-data")
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(f"==== start {self.starts} at {time.strftime('%H:%M:%S')} ====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}"], env=self.env, cwd=REPO,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=die_with_parent())
        return self

    def status(self, path: str = "/readyz") -> int | None:
        """The HTTP status of `path`, None if nothing answers."""
        try:
            return httpx.get(f"{self.url}{path}", timeout=2).status_code
        except httpx.HTTPError:
            return None

    def exit_code(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        """Until `/readyz` answers 200; AssertionError (with the log's end) if it exits or times out."""
        if not wait_until(lambda: self.status() == 200 or self.exit_code() is not None, timeout):
            raise AssertionError(f"{self.name} was not ready within {timeout:.0f}s\n{self.log_tail()}")
        if self.exit_code() is not None:
            raise AssertionError(f"{self.name} exited with {self.exit_code()}\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            text = []
        return f"--- last lines of {self.name}.log ---\n" + "\n".join(text[-lines:])

    def log_lines(self, *needles: str) -> list[str]:
        """The log's lines that contain any of `needles` (the evidence a failure message quotes)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in text if any(n in line for n in needles)]


class System:
    """A fresh broker with every topic, and the services started on it; `close()` stops them all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.broker = KafkaBroker(root / "kafka", free_port(), free_port())
        self.services: dict[str, ServiceProcess] = {}

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def __enter__(self) -> System:
        self.broker.start()
        ensure_topics(self.bootstrap, partitions=3, replication_factor=1)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self, name: str, *, ready: bool = True) -> ServiceProcess:
        service = self.services.get(name) or ServiceProcess(name, self.bootstrap, self.root)
        self.services[name] = service.start()
        if ready:
            service.wait_ready()
        return service

    def start_intakes(self, *others: str) -> dict[str, str]:
        """The three intakes (and `others`), launched together; once the intakes are ready, their
        URLs by service name (the others may still be starting)."""
        started = [self.start(name, ready=False) for name in (*INTAKES, *others)]
        for service in started[:len(INTAKES)]:
            service.wait_ready()
        return {service.name: service.url for service in started[:len(INTAKES)]}

    def close(self) -> None:
        for service in self.services.values():
            service.stop()
        self.broker.stop()

    def evidence(self, *needles: str) -> str:
        """What a failure message shows: how each service ended, and its distinct log lines that
        contain any of `needles` (each with its first time and how often it came), or the end of its
        log if it exited."""
        parts = []
        for service in self.services.values():
            code = service.exit_code()
            parts.append(f"-- {service.name}: {'running' if code is None else f'exited with {code}'}, "
                         f"started {service.starts}x, /readyz {service.status()}")
            parts += distinct(service.log_lines(*needles))[-LOG_TAIL_LINES:]
            if code is not None:
                parts.append(service.log_tail(LOG_TAIL_LINES))
        return "\n".join(parts)


_STAMP = re.compile(r"^\[?\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+\]?\s*(\[\d+\]\s*)?")


def distinct(lines: list[str], width: int = 300) -> list[str]:
    """Log lines without repeats: each message once, with the time it first came and a count."""
    first: dict[str, str] = {}
    seen: Counter[str] = Counter()
    for line in lines:
        message = _STAMP.sub("", line)[:width]
        first.setdefault(message, line[:width])
        seen[message] += 1
    return [first[m] + (f"  (x{n})" if n > 1 else "") for m, n in seen.items()]


# -- what is in Kafka -------------------------------------------------------------------------------

def source_records(bootstrap: str) -> dict[tuple[str, str], list[tuple[str, int, int]]]:
    """Every committed event in the source topics: (source, id) -> [(topic, partition, offset)]."""
    found: dict[tuple[str, str], list[tuple[str, int, int]]] = defaultdict(list)
    for topic in SOURCE_TOPICS:
        for record in read_topic(bootstrap, topic):
            event = json.loads(record.value)
            found[(event["source"], event["id"])].append((topic, record.partition, record.offset))
    return found


def duplicate_alert_records(bootstrap: str) -> list[dict[str, Any]]:
    """Alert records that repeat the record before them for the same alert (raised twice without a
    withdrawal between, or withdrawn twice): what a user would be notified of twice."""
    last: dict[bytes, bytes] = {}
    repeats = []
    for record in read_topic(bootstrap, "alerts"):
        if last.get(record.key) == record.value:
            repeats.append(json.loads(record.value))
        last[record.key] = record.value
    return repeats


def alert_count(bootstrap: str) -> int:
    return len(read_topic(bootstrap, "alerts"))


def raised_alerts(bootstrap: str) -> set[str]:
    """The ids of the alerts whose last record raises them (not withdrawn)."""
    last: dict[str, bool] = {}
    for record in read_topic(bootstrap, "alerts"):
        last[record.key.decode()] = b'"withdrawn":true' not in record.value
    return {alert_id for alert_id, raised in last.items() if raised}


def has_group(bootstrap: str, group_id: str) -> bool:
    """Whether `group-state` holds the group's summary (its registration reached the live states)."""
    key = group_key(group_id)
    return any(record.key == key and record.value for record in read_topic(bootstrap, "group-state"))


def consumer_group(bootstrap: str, group: str = "gvi-processor") -> str:
    """The consumer group as the broker sees it: its state and its members (a worker SIGKILLed a
    moment ago stays a member until its session times out)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group])[group]
    except Exception as exc:  # evidence only: say why there is none
        return f"group {group}: not described ({type(exc).__name__}: {exc})"
    finally:
        admin.close()
    members = ", ".join(m.get("member_id", "?")[-12:] for m in described.get("members", []))
    return f"group {group}: {described.get('group_state', '?')}, members: {members or 'none'}"


def replay_compare(bootstrap: str) -> subprocess.CompletedProcess[bytes]:
    """`gvi-audit replay --compare-live`, as an auditor runs it: 0 when the processor's live states
    are byte-identical to the replay of the log, 1 when they differ."""
    env = {**os.environ, "GVI_ENV": "development", "GVI_AUDITOR_KEY": "dev-auditor-key",
           "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    command = [*GVI_AUDIT, "--no-progress", "replay", "--compare-live"]
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, timeout=120, check=False)


def wait_replay_equals_live(bootstrap: str, timeout: float) -> tuple[bool, str, int]:
    """Run the comparison until it says identical or `timeout` has passed (a run that starts before
    the deadline still counts): (identical, its last line, the number of groups replayed)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = replay_compare(bootstrap)
        said = answer.stderr.decode(errors="replace").strip().splitlines()
        last = said[-1] if said else f"(exit {answer.returncode}, nothing on stderr)"
        if answer.returncode not in (0, 1):
            raise AssertionError(f"gvi-audit replay failed: {answer.stderr.decode()[-2000:]}")
        if answer.returncode == 0 or time.monotonic() >= deadline:
            return answer.returncode == 0, last, answer.stdout.count(b"\n")
        time.sleep(1)


def summary(found: dict[tuple[str, str], list[tuple[str, int, int]]]) -> str:
    per_topic = Counter(place[0] for places in found.values() for place in places)
    return ", ".join(f"{topic} {n}" for topic, n in sorted(per_topic.items()))
