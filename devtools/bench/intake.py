"""Intake benchmark: acked events/s and latency over HTTP, beside a raw kafka-python producer.

Every workload posts fresh events (new ids) to the incidents intake running as its own process,
and the baseline sends the same serialised events to the same topic with a raw idempotent
`acks=all` producer in the same run:
* single-event POSTs with 1, 8 and 32 concurrent clients, each waiting for its answer; the baseline
  has as many threads, each sending one record and waiting for its ack;
* batch POSTs of 1,000 events; the baseline sends the same events as fast as it can and flushes.

The HTTP load generator is a minimal HTTP/1.1 keep-alive client (`_Connection`, one connection
per concurrent client), not aiohttp as before: on the 2-core machine the load generator shares the
CPU with the service and the broker, and aiohttp spent about 0.35 ms per request, about half of
what the service itself spends. What is measured is unchanged: each client sends a whole request,
waits for the whole answer, checks its status and times it. The baseline never used the HTTP
client (it is the raw producer), so it is unaffected.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from kafka import KafkaProducer

from devtools.bench.common import (
    Figure,
    broker_for_bench,
    create_topic,
    exit_code,
    percentile,
    print_table,
    service_process,
)
from services.contracts import parse_event, partition_key

__all__ = ["main", "run_intake_bench"]

KEY = "Bearer dev-police-key"
RAW_TOPIC = "bench-raw-incidents"  # same configuration as `incidents`, so the intake's ledger ignores it
SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def make_events(n: int) -> list[dict[str, Any]]:
    kinds = ("shooting", "explosion", "arson", "aggravated_assault")
    return [{
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "/agencies/police",
        "type": "gvi.incident.reported.v1", "time": "2019-06-01T21:30:00+02:00",
        "datacontenttype": "application/json",
        "data": {"incident_id": f"bench-{uuid.uuid4().hex[:12]}", "kind": kinds[i % 4],
                 "area": "Seved", "confirmed": True, "killed": 0, "injured": i % 3,
                 "suspected_group_ids": [f"grp-{i % 50}"], "victim_group_ids": []},
    } for i in range(n)]


def serialised(events: Sequence[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    """The records the intake would write, for the raw producer to send."""
    out = []
    for raw in events:
        event = parse_event(raw)
        out.append((partition_key(event).encode(), event.to_json()))
    return out


class _Connection:
    """One HTTP/1.1 keep-alive connection that POSTs and reads the answer: a minimal client, so
    that the load generator's own CPU takes little from the service on a 2-core machine (aiohttp
    spent about 0.35 ms per request, about half of what the service itself spends). Requests are
    real HTTP, written whole; answers are read whole (status line, headers, Content-Length body)."""

    def __init__(self, url: str) -> None:
        parsed = urlsplit(url)
        self._host, self._port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self._head = (f"POST /v1/events HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
                      f"Authorization: {KEY}\r\n").encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> _Connection:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()

    async def post(self, body: bytes, content_type: str) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        self._writer.write(self._head + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}"
                                        "\r\n\r\n".encode() + body)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = next((int(v) for k, _, v in (line.partition(":") for line in lines[1:])
                       if k.strip().lower() == "content-length"), None)
        if length is None:
            raise RuntimeError("the intake answered without Content-Length")
        return status, await self._reader.readexactly(length)


async def _post_singles(url: str, events: list[dict[str, Any]], clients: int) -> tuple[float, list[float]]:
    queue = iter(events)
    latencies: list[float] = []

    async def client() -> None:
        async with _Connection(url) as connection:
            for event in queue:
                body = json.dumps(event).encode()
                start = time.perf_counter()
                status, answer = await connection.post(body, SINGLE)
                if status != 202:
                    raise RuntimeError(f"intake answered {status}: {answer[:500]!r}")
                latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - start, latencies


async def _post_batches(url: str, events: list[dict[str, Any]], size: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    async with _Connection(url) as connection:
        start = time.perf_counter()
        for i in range(0, len(events), size):
            body = json.dumps(events[i:i + size]).encode()
            t = time.perf_counter()
            status, answer = await connection.post(body, BATCH)
            if status != 202:
                raise RuntimeError(f"intake answered {status}: {answer[:500]!r}")
            latencies.append(time.perf_counter() - t)
        return time.perf_counter() - start, latencies


def _producer(bootstrap: str) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=1)


def _raw_singles(bootstrap: str, records: list[tuple[bytes, bytes]],
                 clients: int) -> tuple[float, list[float]]:
    producer = _producer(bootstrap)
    producer.send(RAW_TOPIC, value=b"{}", key=b"warmup").get(10)
    queue = iter(records)
    lock = threading.Lock()
    latencies: list[float] = []

    def client() -> None:
        while True:
            with lock:
                record = next(queue, None)
            if record is None:
                return
            start = time.perf_counter()
            producer.send(RAW_TOPIC, value=record[1], key=record[0]).get(30)
            latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    producer.close()
    return elapsed, latencies


def _raw_bulk(bootstrap: str, records: list[tuple[bytes, bytes]], size: int) -> tuple[float, list[float]]:
    producer = _producer(bootstrap)
    producer.send(RAW_TOPIC, value=b"{}", key=b"warmup").get(10)
    latencies = []
    start = time.perf_counter()
    for i in range(0, len(records), size):
        t = time.perf_counter()
        for key, value in records[i:i + size]:
            producer.send(RAW_TOPIC, value=value, key=key)
        producer.flush()
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    producer.close()
    return elapsed, latencies


def _figure(name: str, n: int, ours: tuple[float, list[float]], raw: tuple[float, list[float]]) -> Figure:
    return Figure(name, n / ours[0], percentile(ours[1], 50) * 1000, percentile(ours[1], 99) * 1000,
                  n / raw[0], percentile(raw[1], 50) * 1000, percentile(raw[1], 99) * 1000)


def run_intake_bench(bootstrap: str, *, scale: float = 1.0) -> list[Figure]:
    create_topic(bootstrap, RAW_TOPIC, {"retention.ms": "-1"})
    figures = []
    with service_process("services.incidents", bootstrap) as url:
        asyncio.run(_post_singles(url, make_events(200), 8))  # warm up both paths
        for clients, n in ((1, 500), (8, 2000), (32, 5000)):
            n = int(n * scale)
            events = make_events(n)
            ours = asyncio.run(_post_singles(url, events, clients))
            raw = _raw_singles(bootstrap, serialised(make_events(n)), clients)
            figures.append(_figure(f"single POST, {clients} client(s)", n, ours, raw))
        n = int(20_000 * scale)
        ours = asyncio.run(_post_batches(url, make_events(n), 1000))
        raw = _raw_bulk(bootstrap, serialised(make_events(n)), 1000)
        figures.append(_figure("batch POST of 1,000", n, ours, raw))
    return figures


def report(figures: list[Figure]) -> None:
    single32, batch = figures[2], figures[3]
    print_table("Intake (incidents service, acks=all) beside a raw kafka-python producer", figures, [
        (f"batch intake >= 50% of the raw producer ({batch.ratio:.0%})", batch.ratio >= 0.5),
        (f"single POSTs at 32 clients >= 1,000 acked events/s ({single32.events_per_s:.0f})",
         single32.events_per_s >= 1000),
        (f"single POSTs at 32 clients p99 < 100 ms ({single32.p99_ms:.1f} ms)", single32.p99_ms < 100),
    ])


def main() -> int:
    with broker_for_bench() as bootstrap:
        report(run_intake_bench(bootstrap))
    return exit_code()


if __name__ == "__main__":
    raise SystemExit(main())
