"""Processor benchmark (issues 3 and 18): throughput per worker, catching up a backlog, and end-to-end
latency, beside raw baselines.

* Throughput: 100,000 stamped events already in the source topics of a fresh broker, one worker
  (`python -m services.sanctions.processor`, as its container runs it) started on them, timed from
  its first processed event to its last, by its own `gvi_processor_events_total`. The baseline is a
  raw aiokafka loop that consumes and JSON-decodes the same records (its ratio is shown for
  information). Three shapes of history, 1,000 groups of 100 events, 100 of 1,000 and 10 of 10,000,
  each in two orders: group after group (contiguous: a batch of records touches few groups) and in
  time order (interleaved: every group active at once, as live traffic is; the same events).
* Backlog: 1,000,000 interleaved events written while no worker runs; from a worker's start to its
  `/readyz` saying ready, which it does once it has read every source partition to its end and its
  outputs are acknowledged. Then the worker is restarted on its fact store: the time until it is
  ready again, and the longest its `/healthz` took to answer meanwhile (judged against the 5 s a
  probe waits: a worker that stops answering while it rebuilds its ledger gets restarted). The
  worker's resident memory, once caught up and after the restart, is shown for sizing.
* Latency: at a steady 200 events/s, single POSTs to the sanctions intake; from each 202 to the
  moment the group-state record it caused is read back. The baseline: a raw `acks=all` producer at
  the same rate into a plain topic, from its ack to the record being read back.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaProducer

from devtools.bench.common import (
    Figure,
    broker_for_bench,
    exit_code,
    metric_total,
    print_table,
    service_memory_bytes,
    service_process,
)
from devtools.bench.processor_latency import run_latency
from services.contracts import (
    Service,
    canonical_json,
    owner_of,
    parse_event,
    partition_key,
)

__all__ = ["main", "report", "run_processor_bench"]

WORKER = "services.sanctions.processor"
SOURCES = tuple(service.topic for service in Service)
SHAPES = ((1_000, 100), (100, 1_000), (10, 10_000))
T0 = datetime(2015, 1, 1, tzinfo=UTC)
AGENCY = {Service.INCIDENTS.topic: "police", Service.NOTIFICATIONS.topic: "probation",
          Service.SANCTIONS.topic: "police"}


def _event(event_type: str, n: int, when: datetime, data: dict[str, Any]) -> dict[str, Any]:
    owner = owner_of(event_type)
    assert owner is not None
    agency = AGENCY[owner.topic]
    stamp = when.isoformat().replace("+00:00", "Z")
    return {"specversion": "1.0", "id": f"bench-{n}", "source": f"/agencies/{agency}", "type": event_type,
            "time": stamp, "datacontenttype": "application/json", "data": data,
            "recordedtime": stamp, "agency": agency}


def history(groups: int, per_group: int) -> Iterator[dict[str, Any]]:
    """Each group's history over years, group after group: a warning early on, then incidents (a
    tenth of the events, some re-attributed later), memberships and sanctions (by group and by
    person) as they come."""
    for g in range(groups):
        for k in range(per_group):
            yield _group_event(g, k, groups, per_group)


def interleaved(groups: int, per_group: int) -> Iterator[dict[str, Any]]:
    """The events of `history`, in time order: every group's k-th event falls within one day, and the
    next ones a step of days later, so the groups take turns, as live traffic does."""
    by_hour = sorted(range(groups), key=lambda g: g % 24)  # a group's events fall at its hour of the day
    for k in range(per_group):
        for g in by_hour:
            yield _group_event(g, k, groups, per_group)


def _group_event(g: int, k: int, groups: int, per_group: int) -> dict[str, Any]:
    n, gid = g * per_group + k + 1, f"grp-{g}"
    when = T0 + timedelta(hours=g % 24) + (k + 1) * timedelta(days=max(1.0, 3650 / per_group))
    slot = k % 20
    if k == 0:
        return _event("gvi.group.registered.v1", n, when, {"group_id": gid, "name": f"Group {g}",
                                                          "area": "Seved"})
    if k == 1:
        return _event("gvi.warning.delivered.v1", n, when, {
            "group_id": gid, "channel": "custom_notification", "call_in_id": None,
            "person_ref": None, "promised_levers": ["arrest", "prosecution"]})
    if slot in (2, 12):
        return _event("gvi.incident.reported.v1", n, when, {
            "incident_id": f"inc-{g}-{k}", "kind": "shooting", "area": "Seved", "confirmed": True,
            "killed": 0, "injured": 1, "suspected_group_ids": [gid], "victim_group_ids": []})
    if slot == 3:
        return _event("gvi.membership.assessed.v1", n, when, {
            "person_ref": f"p-{g}-{k // 100}", "group_id": gid, "valid_from": _iso(when),
            "valid_until": _iso(when + timedelta(days=400)), "evidence": "observation",
            "source_grade": "B"})
    if slot == 13:
        return _event("gvi.incident.attributed.v1", n, when, {
            "incident_id": f"inc-{g}-{k - 1}", "confirmed": True, "suspected_group_ids": [gid],
            "victim_group_ids": [f"grp-{(g + 1) % groups}"], "confidence": "high",
            "reason": "reviewed"})
    if slot % 2:
        return _event("gvi.sanction.recorded.v1", n, when, {
            "kind": "arrest", "group_id": None, "person_ref": f"p-{g}-{k // 100}", "incident_id": None})
    return _event("gvi.sanction.recorded.v1", n, when, {
        "kind": "prosecution", "group_id": gid, "person_ref": None, "incident_id": None})


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _produce(bootstrap: str, events: Iterator[dict[str, Any]]) -> int:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, batch_size=256 * 1024)
    count = 0
    try:
        for raw in events:
            event = parse_event(raw, allow_intake_attributes=True)
            owner = owner_of(event.type)
            assert owner is not None
            producer.send(owner.topic, key=partition_key(event).encode(), value=canonical_json(raw))
            count += 1
        producer.flush(120)
    finally:
        producer.close()
    return count


async def _raw_loop(bootstrap: str, total: int) -> float:
    """The baseline: consume the source topics from the start and JSON-decode every record."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in SOURCES for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen, started = 0, time.perf_counter()
        while seen < total:
            for batch in (await consumer.getmany(timeout_ms=1000, max_records=5000)).values():
                for record in batch:
                    json.loads(record.value)
                    seen += 1
        return total / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def _processor_rate(bootstrap: str, total: int) -> float:
    with tempfile.TemporaryDirectory(prefix="gvi-bench-processor-") as tmp, service_process(
            WORKER, bootstrap, wait_for="/healthz", GVI_PROCESSOR_DATA_DIR=tmp,
            GVI_PROCESSOR_ID=f"bench-{uuid.uuid4().hex[:8]}") as url:
        first: tuple[float, float] | None = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            done, now = metric_total(url, "gvi_processor_events_total"), time.perf_counter()
            if done and first is None:
                first = (now, done)
            if done >= total and first is not None:
                return (done - first[1]) / (now - first[0]) if now > first[0] else float("nan")
            time.sleep(0.1)
    raise RuntimeError("the processor did not finish within 15 minutes")


@dataclass(frozen=True)
class Shape:
    groups: int
    per_group: int
    order: str  # "contiguous" or "interleaved"
    events_per_s: float
    raw_events_per_s: float

    @property
    def ratio(self) -> float:
        return self.events_per_s / self.raw_events_per_s


ORDERS = {"contiguous": history, "interleaved": interleaved}


def run_throughput(scale: float = 1.0) -> list[Shape]:
    out = []
    for order, events in ORDERS.items():
        for groups, per_group in SHAPES:
            total = max(100, int(groups * per_group * scale))  # each shape the same number of events
            groups_n = groups if groups * 100 <= total else max(1, total // per_group)
            per_n = total // groups_n
            with broker_for_bench() as bootstrap:
                total = _produce(bootstrap, events(groups_n, per_n))
                raw = asyncio.run(_raw_loop(bootstrap, total))
                ours = _processor_rate(bootstrap, total)
            out.append(Shape(groups_n, per_n, order, ours, raw))
    return out


@dataclass(frozen=True)
class Backlog:
    events: int
    seconds: float  # from the worker's start to its /readyz saying ready
    raw_events_per_s: float
    restart_seconds: float  # the same worker restarted on its fact store: from its start to ready
    slowest_health_s: float  # the longest /healthz answer while it restarted
    caught_up_bytes: float = float("nan")  # the worker's resident memory once caught up
    restarted_bytes: float = float("nan")  # ... once ready after the restart
    restart_peak_bytes: float = float("nan")  # ... at its peak while it rebuilt its ledger


def run_backlog(scale: float = 1.0) -> Backlog:
    """A backlog written while no worker ran (1,000,000 interleaved events at full scale), and one
    worker started on it: the time until it says it has caught up. Then the same worker restarted
    on its fact store, as after a deploy: the time until it is ready again, and how long its health
    endpoint took to answer meanwhile (a probe gives up after 5 s)."""
    groups = max(10, int(10_000 * scale))
    with broker_for_bench() as bootstrap:
        total = _produce(bootstrap, interleaved(groups, 100))
        raw = asyncio.run(_raw_loop(bootstrap, total))
        with tempfile.TemporaryDirectory(prefix="gvi-bench-backlog-") as tmp:
            worker = {"GVI_PROCESSOR_DATA_DIR": tmp, "GVI_PROCESSOR_ID": f"bench-{uuid.uuid4().hex[:8]}",
                      "GVI_PROCESSOR_MAX_PENDING_SECONDS": "600"}
            started = time.perf_counter()
            with service_process(WORKER, bootstrap, wait_for="/healthz", **worker) as url:
                _wait_until_ready(url, started)
                caught_up = time.perf_counter() - started
                caught_up_bytes, _ = service_memory_bytes(url)
            started = time.perf_counter()
            with service_process(WORKER, bootstrap, wait_for="/healthz", **worker) as url:
                slowest = _wait_until_ready(url, started)
                restarted = time.perf_counter() - started
                restarted_bytes, peak_bytes = service_memory_bytes(url)
            return Backlog(total, caught_up, raw, restarted, slowest, caught_up_bytes, restarted_bytes,
                           peak_bytes)


def _wait_until_ready(url: str, started: float) -> float:
    """Poll the worker until it is ready; the longest its `/healthz` took to answer meanwhile."""
    slowest = 0.0
    while not _ready(url):
        if time.perf_counter() > started + 900:
            raise RuntimeError("the processor was not ready within 15 minutes")
        asked = time.perf_counter()
        try:
            httpx.get(f"{url}/healthz", timeout=60)
        except httpx.TimeoutException:
            pass
        slowest = max(slowest, time.perf_counter() - asked)
        time.sleep(0.5)
    return slowest


def _ready(url: str) -> bool:
    """Whether the worker says it is ready; a worker too busy to answer within 5 s is not (said,
    since its health endpoints should always answer)."""
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.TimeoutException:
        print("the processor's /readyz did not answer within 5 s")
        return False


@dataclass(frozen=True)
class Result:
    shapes: list[Shape]
    backlog: Backlog
    latency: Figure


def run_processor_bench(bootstrap: str, *, scale: float = 1.0) -> Result:
    return Result(run_throughput(scale), run_backlog(scale),
                  run_latency(bootstrap, seconds=max(5.0, 30.0 * scale)))


def targets(result: Result) -> list[tuple[str, bool | None]]:
    """Issue 18's targets per worker, and the ratios to the raw loop as information."""
    interleaved_rates = [s.events_per_s for s in result.shapes if s.order == "interleaved"]
    rates = [s.events_per_s for s in result.shapes]
    slowest, backlog = min(interleaved_rates), result.backlog
    return [
        (f"interleaved throughput >= 8,000 events/s per worker (slowest shape {slowest:,.0f})",
         slowest >= 8000),
        (f"flat cost: shapes within a factor of 2 ({max(rates) / min(rates):.2f}x)",
         max(rates) <= 2 * min(rates)),
        (f"202 -> group-state p99 < 250 ms at 200 events/s ({result.latency.p99_ms:.0f} ms)",
         result.latency.p99_ms < 250),
        (f"a backlog of {backlog.events:,} events caught up in < 3 minutes ({backlog.seconds:.0f} s)",
         backlog.seconds < 180 if backlog.events >= 1_000_000 else None),
        (f"/healthz answered within 5 s throughout a restart on the backlog (slowest "
         f"{backlog.slowest_health_s:.1f} s; ready again after {backlog.restart_seconds:.0f} s)",
         backlog.slowest_health_s < 5),
        (f"worker memory, {backlog.events:,} events: {backlog.caught_up_bytes / 2**30:.1f} GiB once caught "
         f"up; after the restart {backlog.restarted_bytes / 2**30:.1f} GiB (peak "
         f"{backlog.restart_peak_bytes / 2**30:.1f} GiB)", None),
        (f"ratio to the raw loop: {min(s.ratio for s in result.shapes):.0%} to "
         f"{max(s.ratio for s in result.shapes):.0%}", None),
    ]


def report(result: Result) -> None:
    print("\nProcessor (one worker) beside a raw aiokafka loop consuming and JSON-decoding the same records")
    head = f"{'history':<40} {'events/s':>10} | {'raw ev/s':>10} | {'ratio':>6}"
    print(head)
    print("-" * len(head))
    for s in result.shapes:
        print(f"{f'{s.groups:,} groups x {s.per_group:,}, {s.order}':<40} {s.events_per_s:>10.0f} | "
              f"{s.raw_events_per_s:>10.0f} | {s.ratio:>6.2f}")
    backlog = result.backlog
    rate = backlog.events / backlog.seconds
    print(f"{f'backlog of {backlog.events:,}, start to ready':<40} {rate:>10.0f} | "
          f"{backlog.raw_events_per_s:>10.0f} | {rate / backlog.raw_events_per_s:>6.2f}")
    print_table("End-to-end latency beside a raw acks=all producer and consumer", [result.latency],
                targets(result))


def main() -> int:
    import sys

    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    with broker_for_bench() as bootstrap:
        report(run_processor_bench(bootstrap, scale=scale))
    return exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
