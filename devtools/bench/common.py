"""What every benchmark shares: a broker to measure against, child services, and the report table."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from devtools.broker import KafkaBroker, free_port
from services.infra.topics import ensure_topics

__all__ = ["Figure", "broker_for_bench", "create_topic", "exit_code", "metric_total", "percentile",
           "print_table", "print_targets", "service_process"]


def percentile(samples: Sequence[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Figure:
    """One measured line: our system beside its baseline, same work, same run."""

    name: str
    events_per_s: float
    p50_ms: float
    p99_ms: float
    base_events_per_s: float
    base_p50_ms: float
    base_p99_ms: float

    @property
    def ratio(self) -> float:
        return self.events_per_s / self.base_events_per_s if self.base_events_per_s else float("nan")


_FAILED: list[str] = []


def print_table(title: str, figures: Sequence[Figure], targets: Sequence[tuple[str, bool | None]]) -> None:
    """The figures beside their baselines, then each target as PASS or FAIL (None: a figure shown
    for information, not a target). A failed target is remembered for `exit_code`."""
    print(f"\n{title}")
    head = (f"{'workload':<28} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} | {'raw ev/s':>10} "
            f"{'raw p50':>8} {'raw p99':>8} | {'ratio':>6}")
    print(head)
    print("-" * len(head))
    for f in figures:
        print(f"{f.name:<28} {f.events_per_s:>10.0f} {f.p50_ms:>8.1f} {f.p99_ms:>8.1f} | "
              f"{f.base_events_per_s:>10.0f} {f.base_p50_ms:>8.1f} {f.base_p99_ms:>8.1f} | {f.ratio:>6.2f}")
    print_targets(targets)


def print_targets(targets: Sequence[tuple[str, bool | None]]) -> None:
    """Each target as PASS or FAIL (None: `[info]`), for a benchmark that prints its own table."""
    for label, ok in targets:
        print(f"  [{'info' if ok is None else 'PASS' if ok else 'FAIL'}] {label}")
        if ok is False:
            _FAILED.append(label)


def exit_code() -> int:
    """What a benchmark command exits with: 1 if a target printed so far was not met (each listed
    once more at the end), 0 if all were."""
    if not _FAILED:
        print("\nevery target met")
        return 0
    print(f"\n{len(_FAILED)} target(s) not met:")
    for label in _FAILED:
        print(f"  {label}")
    return 1


def create_topic(bootstrap: str, name: str, config: dict[str, str] | None = None) -> None:
    """A topic of the benchmark's own (3 partitions); one that exists already is kept."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, 3, 1, topic_configs=config or {})])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def metric_total(url: str, name: str) -> float:
    """The sum of a Prometheus metric's samples at `url`/metrics (0 if absent)."""
    total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        head, _, value = line.rpartition(" ")
        if not line.startswith("#") and (head == name or head.startswith(name + "{")):
            total += float(value)
    return total


@contextmanager
def broker_for_bench() -> Iterator[str]:
    """A fresh broker in a temporary directory. Never the one in KAFKA_BOOTSTRAP_SERVERS: the
    benchmark writes tens of thousands of synthetic events, and source topics keep them forever."""
    with tempfile.TemporaryDirectory(prefix="gvi-bench-") as tmp:
        broker = KafkaBroker(Path(tmp) / "kafka", free_port(), free_port(), heap="1g")
        with broker:
            ensure_topics(broker.bootstrap, partitions=3, replication_factor=1)
            yield broker.bootstrap


def service_proc(url: str) -> Path | None:
    """The /proc directory of the service process listening at `url` (found by its GVI_PORT), or
    None where there is none."""
    port = f"GVI_PORT={urlsplit(url).port}".encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if port in environ.read_bytes().split(b"\0"):
                return environ.parent
        except OSError:
            continue
    return None


def service_memory_bytes(url: str) -> tuple[float, float]:
    """The resident memory of the service process at `url`, now and at its peak, in bytes (NaN
    where there is no /proc)."""
    proc = service_proc(url)
    if proc is None:
        return float("nan"), float("nan")
    status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
    return float(status["VmRSS"].split()[0]) * 1024, float(status["VmHWM"].split()[0]) * 1024


@contextmanager
def service_process(module: str, bootstrap: str, *, wait_for: str = "/readyz", **env: str) -> Iterator[str]:
    """Run `python -m <module>` as the real service would run, on a free port; yields its URL once
    `wait_for` answers 200 (a processor is ready only once it has caught up: a benchmark that times
    its catching up waits for `/healthz`)."""
    port = free_port()
    child_env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "GVI_ENV": "development",
                 "GVI_AGENCIES_FILE": "deploy/config/agencies.dev.toml", "GVI_PORT": str(port),
                 "GVI_LOG_LEVEL": "WARNING", **env}
    proc = subprocess.Popen([sys.executable, "-m", module], env=child_env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}{wait_for}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not become ready")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
