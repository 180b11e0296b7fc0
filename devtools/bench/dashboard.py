"""Dashboard benchmark (issue 4), each figure beside a baseline doing the same work in the same run:

* load: the dashboard (its own process) starting and rebuilding its read model from the topics of
  `n` events (the sources and the processor's output for them, made by the rules' own `Ledger`),
  until `/readyz`; beside a raw kafka-python consumer reading the same topics to their end. Its
  resident memory once loaded is reported against the 500 MB target, beside the bytes of the log.
* live: `clients` SSE clients on `/api/stream`; group-state records of new groups are produced at a
  steady rate, and a record's latency is from just before it is sent to Kafka until the LAST client
  has it; beside one raw aiokafka consumer tailing `group-state` (the Kafka hop alone).
* reads: `/api/groups` with 50 concurrent readers in a closed loop (each asks again when its answer is
  in; bearer token); beside a bare uvicorn app serving the same bytes (the HTTP stack alone). The
  readers are one lean asyncio HTTP/1.1 keep-alive client (`devtools.bench.readers`), the same for
  both sides: they share the two cores with the server they measure, and aiohttp's client cost
  about as much CPU per request as the bare server, so it measured itself as much as the server. The
  bare app sends Content-Length, as the dashboard does (not chunked encoding).

`python -m devtools.bench.dashboard [--scale S]`; `make bench` runs it at scale 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaConsumer, KafkaProducer

from devtools.bench.audit import make_log
from devtools.bench.common import (
    Figure,
    broker_for_bench,
    exit_code,
    percentile,
    print_table,
    service_process,
)
from devtools.bench.readers import readers, static_server
from services.contracts import ALERTS_TOPIC, GROUP_STATE_TOPIC, parse_event
from services.contracts.alerts import alert_key
from services.dashboard.readmodel.records import CONSUMED_TOPICS
from services.followthrough import Ledger, records_for

__all__ = ["main", "run_dashboard_bench"]

USERS = "deploy/config/users.dev.toml"
NAN = float("nan")


# --- the log ------------------------------------------------------------------------------------------

def _write_log(bootstrap: str, n: int) -> int:
    """`n` source events and the processor's records for them; returns how many records were written."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024)
    ledger = Ledger()
    count = 0
    for topic, key, value in make_log(n, seed=7):
        producer.send(topic, key=key, value=value)
        count += 1
        update = ledger.apply(parse_event(json.loads(value), allow_intake_attributes=True))
        for state_key, state_value in records_for(ledger, update):
            producer.send(GROUP_STATE_TOPIC, key=state_key, value=state_value)
            count += 1
        for alert in update.alerts.raised:
            producer.send(ALERTS_TOPIC, key=alert_key(alert.alert_id), value=alert.to_json())
            count += 1
    producer.flush()
    producer.close()
    return count


def _raw_read(bootstrap: str) -> tuple[float, int, int]:
    """Seconds, records and bytes for a raw consumer to read every topic the dashboard reads."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             isolation_level="read_committed", max_poll_records=20_000)
    start = time.perf_counter()
    partitions = [tp for topic in CONSUMED_TOPICS for tp in _partitions(consumer, topic)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    records = size = 0
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        for batch in consumer.poll(timeout_ms=500).values():
            records += len(batch)
            size += sum(len(r.key or b"") + len(r.value or b"") for r in batch)
    elapsed = time.perf_counter() - start
    consumer.close()
    return elapsed, records, size


def _partitions(consumer: KafkaConsumer, topic: str) -> list[Any]:
    from kafka import TopicPartition

    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return NAN


def _dashboard_pid(port: str) -> int:
    """The pid of the dashboard child listening on `port` (service_process does not expose it)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"services.dashboard" in cmdline and f"GVI_PORT={port}".encode() in environ:
                return int(entry.name)
    raise RuntimeError("the dashboard process was not found")


# --- live: SSE fan-out --------------------------------------------------------------------------------

def _new_group_records(count: int, tag: str) -> list[tuple[str, bytes, bytes]]:
    """(group id, key, value) of the group-state record of `count` newly registered groups."""
    ledger = Ledger()
    out = []
    for i in range(count):
        gid = f"bench-{tag}-{i}"
        event = parse_event({"specversion": "1.0", "id": f"{gid}-reg", "source": "/agencies/police",
                             "type": "gvi.group.registered.v1", "time": "2024-01-01T00:00:00Z",
                             "datacontenttype": "application/json",
                             "data": {"group_id": gid, "name": f"Bench {i}", "area": "Seved"}})
        for key, value in records_for(ledger, ledger.apply(event)):
            if value is not None and json.loads(key)[0] == "group":
                out.append((gid, key, value))
    return out


async def _produce_steadily(bootstrap: str, records: list[tuple[str, bytes, bytes]], rate: float,
                            sent: MutableMapping[str, float]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    await producer.start()
    try:
        start = time.perf_counter()
        for i, (gid, key, value) in enumerate(records):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[gid] = time.time()
            await producer.send(GROUP_STATE_TOPIC, key=key, value=value)
        await producer.flush()
        return time.perf_counter() - start
    finally:
        await producer.stop()


async def _sse_clients(url: str, token: str, bootstrap: str, clients: int, records: int,
                       rate: float) -> tuple[float, list[float]]:
    batch = _new_group_records(records, f"sse-{time.time_ns()}")
    wanted = {gid for gid, _, _ in batch}
    sent: dict[str, float] = {}
    last_seen: dict[str, float] = {}
    received: dict[str, int] = {}
    connected = 0
    all_connected = asyncio.Event()
    done = asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal connected
        async with session.get(f"{url}/api/stream", headers={"authorization": f"Bearer {token}"},
                               timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as answer:
            event = ""
            async for raw in answer.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                    if event == "hello":
                        connected += 1
                        if connected == clients:
                            all_connected.set()
                elif line.startswith("data: ") and event == "group":
                    gid = json.loads(line[6:]).get("group_id")
                    if gid in wanted:
                        last_seen[gid] = time.time()
                        received[gid] = received.get(gid, 0) + 1
                        if len(received) == len(wanted) and all(v == clients for v in received.values()):
                            done.set()
                if done.is_set():
                    return

    connector = aiohttp.TCPConnector(limit=clients + 10)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(client(session)) for _ in range(clients)]
        await asyncio.wait_for(all_connected.wait(), 120)
        elapsed = await _produce_steadily(bootstrap, batch, rate, sent)
        try:
            await asyncio.wait_for(done.wait(), 60)
        except TimeoutError:
            pass
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    missing = sum(clients - received.get(gid, 0) for gid in wanted)
    if missing:
        print(f"  warning: {missing} of {clients * len(wanted)} deliveries did not arrive within 60 s")
    return elapsed, [last_seen[g] - sent[g] for g in wanted if g in last_seen and g in sent]


async def _raw_tail(bootstrap: str, records: int, rate: float) -> tuple[float, list[float]]:
    batch = _new_group_records(records, f"raw-{time.time_ns()}")
    wanted = {gid for gid, _, _ in batch}
    consumer = AIOKafkaConsumer(GROUP_STATE_TOPIC, bootstrap_servers=bootstrap, group_id=None,
                                isolation_level="read_committed", auto_offset_reset="latest",
                                fetch_max_wait_ms=100)
    await consumer.start()
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    try:
        await consumer.getmany(timeout_ms=1000)       # assigned and positioned at the end
        producing = asyncio.create_task(_produce_steadily(bootstrap, batch, rate, sent))
        deadline = time.monotonic() + records / rate + 60
        while len(seen) < len(wanted) and time.monotonic() < deadline:
            for recs in (await consumer.getmany(timeout_ms=200)).values():
                for record in recs:
                    gid = json.loads(record.key)[1]
                    if gid in wanted and gid not in seen:
                        seen[gid] = time.time()
        elapsed = await producing
    finally:
        await consumer.stop()
    return elapsed, [seen[g] - sent[g] for g in wanted if g in seen and g in sent]


# --- the run ------------------------------------------------------------------------------------------

def _figure(name: str, n: int, ours: tuple[float, list[float]], raw: tuple[float, list[float]]) -> Figure:
    return Figure(name, n / ours[0], percentile(ours[1], 50) * 1000, percentile(ours[1], 99) * 1000,
                  n / raw[0], percentile(raw[1], 50) * 1000, percentile(raw[1], 99) * 1000)


def run_dashboard_bench(bootstrap: str, *, scale: float = 1.0) -> dict[str, Any]:
    events = max(1000, int(100_000 * scale))
    clients = max(10, int(200 * scale))
    live_records = max(20, int(200 * scale))
    rate = 20.0
    reads = max(500, int(10_000 * scale))
    written = _write_log(bootstrap, events)
    raw_s, raw_records, raw_bytes = _raw_read(bootstrap)

    start = time.perf_counter()
    with service_process("services.dashboard", bootstrap, GVI_USERS_FILE=USERS,
                         GVI_SSE_HEARTBEAT_SECONDS="10") as url:
        load_s = time.perf_counter() - start
        pid = _dashboard_pid(url.rsplit(":", 1)[1])
        rss = _rss_mb(pid)
        token = httpx.post(f"{url}/api/token", data={"username": "operator", "password": "dev-operator"},
                           timeout=30).json()["access_token"]
        load = Figure(f"load {events:,} events", raw_records / load_s, NAN, NAN,
                      raw_records / raw_s, NAN, NAN)

        ours_live = asyncio.run(_sse_clients(url, token, bootstrap, clients, live_records, rate))
        raw_live = asyncio.run(_raw_tail(bootstrap, live_records, rate))
        live = _figure(f"SSE to {clients} clients", live_records, ours_live, raw_live)

        headers = {"authorization": f"Bearer {token}"}
        body = httpx.get(f"{url}/api/groups", headers=headers, timeout=30).content
        asyncio.run(readers(f"{url}/api/groups", headers, 10, 200))          # warm up
        ours_reads = asyncio.run(readers(f"{url}/api/groups", headers, 50, reads))
        rss_after = _rss_mb(pid)
    proc, static_url, body_file = static_server(body)
    try:
        asyncio.run(readers(static_url, {}, 10, 200))
        raw_reads = asyncio.run(readers(static_url, {}, 50, reads))
    finally:
        proc.terminate()
        proc.wait(10)
        body_file.unlink(missing_ok=True)
    groups = _figure("/api/groups, 50 readers", reads, ours_reads, raw_reads)
    return {"figures": [load, live, groups], "events": events, "written": written, "rss_mb": rss,
            "rss_after_mb": rss_after, "log_mb": raw_bytes / 1e6, "clients": clients,
            "groups": len(json.loads(body))}


def report(result: dict[str, Any]) -> None:
    load, live, groups = result["figures"]
    print_table("Dashboard beside raw clients (load: kafka-python consumer; SSE: one aiokafka consumer "
                "tailing group-state; reads: bare uvicorn serving the same bytes)", result["figures"], [
        (f"SSE p99 from Kafka to all {result['clients']} clients < 1 s ({live.p99_ms:.0f} ms)",
         live.p99_ms < 1000),
        (f"memory for {result['events']:,} events < 500 MB ({result['rss_mb']:.0f} MB resident once loaded, "
         f"{result['rss_after_mb']:.0f} MB after the run; the log holds {result['log_mb']:.0f} MB in "
         f"{result['written']:,} records)", result["rss_after_mb"] < 500),
        (f"/api/groups p99 < 50 ms at 50 readers ({groups.p99_ms:.1f} ms, {result['groups']} groups)",
         groups.p99_ms < 50),
    ])
    print(f"  load rate counts records read ({load.events_per_s:.0f}/s, including process start)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.bench.dashboard")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full workload")
    args = parser.parse_args(argv)
    with broker_for_bench() as bootstrap:
        report(run_dashboard_bench(bootstrap, scale=args.scale))
    return exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
