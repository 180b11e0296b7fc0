"""Driving the stream processor in tests: as a process (`python -m services.sanctions.processor`), fed
through real topics, its outputs read back from Kafka and compared with the pure rules."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from kafka import KafkaProducer

from devtools.bench.common import metric_total
from devtools.broker import free_port
from services.contracts import Service, canonical_json, owner_of, parse_event, partition_key
from services.contracts.events import EventRetracted
from services.contracts.group_state_records import StateView, states_document
from services.followthrough import Derived, Fact, derive, expired_risks
from services.sanctions.processor.recovery import CORRECTION_HEADERS
from tests.integration.test_intake_kafka import read_topic

SOURCES = tuple(service.topic for service in Service)
T = TypeVar("T")


def stamp(event: dict[str, Any], agency: str, recorded: datetime | None = None) -> dict[str, Any]:
    """The event as the intake publishes it: with `recordedtime` and `agency`."""
    when = (recorded or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
    return {**event, "recordedtime": when, "agency": agency}


def produce(bootstrap: str, events: Iterable[dict[str, Any]],
            among: Iterable[dict[str, Any]] | None = None) -> int:
    """Write stamped events to their topics under their partition keys, as the intake would; a
    retraction goes where the event it retracts went (which must be among `events`, or `among`:
    the whole scenario that `events` are part of)."""
    parsed = [(raw, parse_event(raw, allow_intake_attributes=True)) for raw in events]
    known = parsed if among is None else [
        (raw, parse_event(raw, allow_intake_attributes=True)) for raw in among]
    routes: dict[tuple[str, str], tuple[str, bytes]] = {}
    for _, event in known:
        owner = owner_of(event.type)
        if owner is not None:
            routes[(event.source, event.id)] = (owner.topic, partition_key(event).encode())
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for raw, event in parsed:
            if isinstance(event.data, EventRetracted):
                topic, key = routes[(event.source, event.data.retracted_event_id)]
            else:
                topic, key = routes[(event.source, event.id)]
            producer.send(topic, key=key, value=canonical_json(raw))
        producer.flush(60)
    finally:
        producer.close()
    return len(parsed)


def source_facts(bootstrap: str) -> list[Fact]:
    facts = []
    for topic in SOURCES:
        for record in read_topic(bootstrap, topic):
            try:
                event = parse_event(json.loads(record.value), allow_intake_attributes=True)
            except (ValueError, TypeError):
                continue  # what the processor skips as not an event
            facts.append(Fact.from_event(event, topic=topic, partition=record.partition,
                                         offset=record.offset))
    return facts


def expected_states(bootstrap: str, window_days: int = 365) -> Derived:
    """The pure rules over everything in the source topics: what the processor must publish."""
    return derive(source_facts(bootstrap), window_days=window_days)


def alerts_held_now(bootstrap: str, expected: Derived | None = None) -> set[str]:
    """The alert ids the processor must hold raised now: the rules' over the source topics
    (`expected`, or `derive` of them) less the retaliation risks its clock has expired
    (`expired_risks`, at the default `GVI_RETALIATION_RISK_DAYS`: the scenarios' years are long past)."""
    facts = source_facts(bootstrap)
    derived = expected if expected is not None else derive(facts)
    return set(derived.alerts) - set(expired_risks(facts, datetime.now(UTC)))


def live_view(bootstrap: str) -> StateView:
    view = StateView()
    for record in read_topic(bootstrap, "group-state"):
        view.apply(record.key, record.value)
    return view


def alert_records(bootstrap: str) -> list[dict[str, Any]]:
    return [json.loads(record.value) for record in read_topic(bootstrap, "alerts")]


def flapping_alerts(bootstrap: str) -> list[str]:
    """Alerts that a take-over correction withdrew (its records carry `CORRECTION_HEADERS`) and that
    were then raised again by the very record that had raised them: a correction made before the
    restarted worker had read again the events whose outputs it corrected (a user would see the alert
    vanish and come back). The rules' own withdrawals, and raises after them, are not counted: a story
    may withdraw an alert and raise it again (a sanction posted, then retracted)."""
    history: dict[bytes, list[tuple[bytes, bool]]] = {}
    for record in read_topic(bootstrap, "alerts"):
        correction = any((name, value) in CORRECTION_HEADERS for name, value in record.headers or ())
        history.setdefault(record.key, []).append((record.value, correction))
    flapping = []
    for key, records in history.items():
        for i in range(1, len(records) - 1):
            value, correction = records[i]
            if correction and b'"withdrawn":true' in value and records[i - 1][0] == records[i + 1][0]:
                flapping.append(key.decode())
                break
    return flapping


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def wait_until_live_equals_replay(bootstrap: str, timeout: float = 90) -> Derived:
    """Wait until the published group states equal the pure rules over the source topics."""
    expected = expected_states(bootstrap)
    want = states_document(expected.groups)
    last: list[bytes] = [b""]

    def probe() -> bool:
        view = live_view(bootstrap)
        last[0] = states_document(view.groups())
        return last[0] == want and view.unresolved() == dict(expected.unresolved)

    try:
        wait_for(probe, timeout, "the live group states to equal the replay", interval=1.0)
    except AssertionError:
        live = {json.loads(line)["group_id"]: line for line in last[0].splitlines()}
        wanted = {json.loads(line)["group_id"]: line for line in want.splitlines()}
        differ = sorted(g for g in live.keys() | wanted.keys() if live.get(g) != wanted.get(g))
        first = differ[0] if differ else None
        ours, theirs = live.get(first, b""), wanted.get(first, b"")
        at = next((i for i, (x, y) in enumerate(zip(ours, theirs, strict=False)) if x != y),
                  min(len(ours), len(theirs)))
        raise AssertionError(
            f"live states differ from the replay in {len(differ)} groups {differ[:10]}; the first "
            f"differs from byte {at}:\nlive ...{ours[max(0, at - 300):at + 300]!r}\n"
            f"want ...{theirs[max(0, at - 300):at + 300]!r}") from None
    return expected


@dataclass
class ProcessorProcess:
    """One processor worker as its container would run it."""

    bootstrap: str
    data_dir: Path
    app_id: str = "gvi-processor"
    env: dict[str, str] | None = None
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> ProcessorProcess:
        self.port = free_port()
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "GVI_ENV": "development",
               "GVI_PORT": str(self.port), "GVI_PROCESSOR_DATA_DIR": str(self.data_dir),
               "GVI_PROCESSOR_ID": self.app_id, "GVI_LOG_LEVEL": "WARNING", **(self.env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "services.sanctions.processor"], env=env)
        wait_for(self._ready, timeout, "the processor to be ready", interval=0.3)
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the processor exited with {self.proc.returncode}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def metric(self, name: str) -> float:
        """The sum of a metric's samples (0 if absent)."""
        return metric_total(self.url, name)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextmanager
def running_processor(bootstrap: str, data_dir: Path, **kwargs: Any) -> Iterator[ProcessorProcess]:
    worker = ProcessorProcess(bootstrap, data_dir, **kwargs).start()
    try:
        yield worker
    finally:
        worker.stop()
