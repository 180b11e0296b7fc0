"""The processor benchmark's latency figure: at a steady rate, single POSTs to the sanctions intake,
from each 202 to the moment the group-state record it caused is read back; beside a raw `acks=all`
producer at the same rate into a plain topic, from its ack to the record being read back."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import uuid
from typing import Any

import aiohttp
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as SyncTopicPartition

from devtools.bench.common import Figure, create_topic, percentile, service_process
from services.contracts import GROUP_STATE_TOPIC, canonical_json

__all__ = ["run_latency"]


class _Tail(threading.Thread):
    """Reads a topic from its end and notes when each key first arrives."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.seen: dict[bytes, float] = {}
        self._halt = threading.Event()
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                       isolation_level="read_committed", fetch_max_wait_ms=10)
        tps = [SyncTopicPartition(topic, p) for p in sorted(self._consumer.partitions_for_topic(topic))]
        self._consumer.assign(tps)
        self._consumer.seek_to_end(*tps)
        for tp in tps:
            self._consumer.position(tp)

    def run(self) -> None:
        while not self._halt.is_set():
            for batch in self._consumer.poll(timeout_ms=50).values():
                now = time.perf_counter()
                for record in batch:
                    self.seen.setdefault(record.key, now)

    def close(self) -> None:
        self._halt.set()
        self.join(5)
        self._consumer.close()


def _sanction(i: int, run: str) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"lat-{run}-{i}", "source": "/agencies/police",
            "type": "gvi.sanction.recorded.v1", "time": "2020-05-01T10:00:00Z",
            "datacontenttype": "application/json",
            "data": {"kind": "arrest", "group_id": f"lat-grp-{i % 50}", "person_ref": None,
                     "incident_id": None}}


async def _paced_posts(url: str, events: list[dict[str, Any]], rate: float) -> dict[str, float]:
    """POST each event at its slot of a steady rate (open loop); the time of each 202."""
    acked: dict[str, float] = {}
    headers = {"content-type": "application/cloudevents+json", "authorization": "Bearer dev-police-key"}
    async with aiohttp.ClientSession() as session:
        async def post(event: dict[str, Any]) -> None:
            async with session.post(f"{url}/v1/events", json=event, headers=headers) as answer:
                if answer.status == 202:
                    acked[event["id"]] = time.perf_counter()

        start, tasks = time.perf_counter(), []
        for i, event in enumerate(events):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(post(event)))
        await asyncio.gather(*tasks)
    return acked


def _latencies_ms(acked: dict[str, float], seen: dict[bytes, float], key_of: Any) -> list[float]:
    return [(seen[key_of(i)] - t) * 1000 for i, t in acked.items() if key_of(i) in seen]


def run_latency(bootstrap: str, seconds: float = 30.0, rate: float = 200.0) -> Figure:
    n = int(seconds * rate)
    run = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="gvi-bench-latency-") as tmp, \
            service_process("services.sanctions", bootstrap) as url, \
            service_process("services.sanctions.processor", bootstrap, GVI_PROCESSOR_DATA_DIR=tmp,
                            GVI_PROCESSOR_ID=f"bench-lat-{run}"):
        asyncio.run(_paced_posts(url, [_sanction(i, f"{run}-warm") for i in range(200)], rate))
        tail = _Tail(bootstrap, GROUP_STATE_TOPIC)
        tail.start()
        acked = asyncio.run(_paced_posts(url, [_sanction(i, run) for i in range(n)], rate))
        time.sleep(3)
        tail.close()

    def key_of(event_id: str) -> bytes:
        i = int(event_id.rsplit("-", 1)[1])
        return canonical_json(["baseline", f"lat-grp-{i % 50}", "/agencies/police", event_id])

    ours = _latencies_ms(acked, tail.seen, key_of)
    raw = _raw_latency(bootstrap, n, rate)
    lost = len(acked) - len(ours)
    if lost:
        print(f"  note: {lost} of {len(acked)} accepted events had no group-state record within 3 s")
    return Figure("202 -> group-state @200/s", n / seconds, percentile(ours, 50), percentile(ours, 99),
                  n / seconds, percentile(raw, 50), percentile(raw, 99))


def _raw_latency(bootstrap: str, n: int, rate: float) -> list[float]:
    topic = "bench-raw-latency"
    create_topic(bootstrap, topic)
    time.sleep(1)
    tail = _Tail(bootstrap, topic)
    tail.start()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    acked: dict[str, float] = {}
    start = time.perf_counter()
    for i in range(n):
        time.sleep(max(0.0, start + i / rate - time.perf_counter()))
        key = f"raw-{i}"
        producer.send(topic, key=key.encode(), value=b"{}").get(10)
        acked[key] = time.perf_counter()
    time.sleep(2)
    tail.close()
    producer.close()
    return _latencies_ms(acked, tail.seen, lambda k: k.encode())
