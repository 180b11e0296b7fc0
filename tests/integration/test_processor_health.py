"""Issue 18 against real brokers: a worker sets up its own changelog before faust starts, keeps its
producer's metadata whole, commits offsets as fast as it handles records written in transactions,
says it is not ready while the broker is down, and is serving again within 15 s of a SIGKILL, twice.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource

from devtools.broker import KafkaBroker, free_port
from services.contracts import canonical_json, owner_of, parse_event, partition_key
from services.infra.topics import ensure_topics
from services.sanctions.processor.__main__ import ensure_changelog
from services.sanctions.processor.faust_adapter import keep_metadata_for
from tests.integration.test_intake_kafka import read_topic
from tests.processor_support import (
    ProcessorProcess,
    alert_records,
    live_view,
    produce,
    stamp,
    wait_for,
    wait_until_live_equals_replay,
)
from tests.unit.domain import builders as b


def raw(*events: Any) -> list[dict[str, Any]]:
    return [stamp(json.loads(event.to_json()), "police") for event in events]


async def _create(bootstrap: str, topic: str, partitions: int, **configs: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs=configs)])
    finally:
        await admin.close()


# -- defect 1: the changelog topic exists, with the source topics' partition count, before faust ----
async def test_the_worker_creates_its_changelog_compacted_with_the_sources_partition_count(
        kafka_bootstrap: str) -> None:
    topic = f"processor-{uuid.uuid4().hex[:8]}-facts-changelog"
    assert await ensure_changelog(kafka_bootstrap, topic, 3, 1) is True
    assert await ensure_changelog(kafka_bootstrap, topic, 3, 1) is False  # idempotent
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        [described] = admin.describe_topics([topic])
        configs = admin.describe_configs([ConfigResource("TOPIC", topic)])
    finally:
        admin.close()
    assert len(described["partitions"]) == 3
    assert "compact" in repr(configs)


async def test_a_changelog_with_another_partition_count_is_refused_with_what_to_do(
        kafka_bootstrap: str) -> None:
    topic = f"processor-{uuid.uuid4().hex[:8]}-facts-changelog"
    await _create(kafka_bootstrap, topic, 1, **{"cleanup.policy": "compact"})
    with pytest.raises(RuntimeError, match="has 1 partitions, the source topics 3: delete it"):
        await ensure_changelog(kafka_bootstrap, topic, 3, 1)


# -- defect 2: a topic new to the producer must not drop the output topics from its metadata --------
async def _producer_learning_a_new_topic(bootstrap: str, keep: list[str]) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    await producer.client.force_metadata_update()  # every topic, as after start
    if keep:
        await keep_metadata_for(producer.client, keep)
    fresh = f"fresh-{uuid.uuid4().hex[:8]}"
    await _create(bootstrap, fresh, 1)
    await producer.send_and_wait(fresh, b"x")  # what faust's first changelog write does on a fresh broker
    await producer.client.force_metadata_update()
    return producer


async def test_the_output_topics_keep_their_metadata_when_the_producer_learns_a_new_topic(
        kafka_bootstrap: str) -> None:
    output = f"output-{uuid.uuid4().hex[:8]}"
    await _create(kafka_bootstrap, output, 3)
    unguarded = await _producer_learning_a_new_topic(kafka_bootstrap, keep=[])
    try:  # what aiokafka does by itself: the output topic drops out of the metadata
        assert unguarded.client.cluster.partitions_for_topic(output) is None
    finally:
        await unguarded.stop()
    guarded = await _producer_learning_a_new_topic(kafka_bootstrap, keep=[output])
    try:
        assert guarded.client.cluster.partitions_for_topic(output) == {0, 1, 2}
        batch = guarded.create_batch()
        batch.append(key=b"k", value=b"v", timestamp=None)
        acknowledged = await guarded.send_batch(batch, output, partition=2)
        await asyncio.wait_for(acknowledged, 10)
    finally:
        await guarded.stop()


# -- a worker of this module's own broker, which the tests kill and restart -------------------------
@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    kafka = KafkaBroker(tmp_path_factory.mktemp("health-kafka"), free_port(), free_port())
    kafka.start()
    ensure_topics(kafka.bootstrap, partitions=3, replication_factor=1)
    yield kafka
    kafka.stop()


@pytest.fixture(scope="module")
def worker(broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessorProcess]:
    process = ProcessorProcess(broker.bootstrap, tmp_path_factory.mktemp("health-processor"),
                               env={"GVI_PROCESSOR_BROKER_TIMEOUT_SECONDS": "5"})
    process.start()
    yield process
    process.stop()


def readiness(worker: ProcessorProcess) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{worker.url}/readyz", timeout=5)
    return response.status_code, response.json()


async def _produce_in_transactions(bootstrap: str, events: list[dict[str, Any]]) -> None:
    """As the intake writes: each event in a transaction of its own (a record, then a marker)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"t-{uuid.uuid4().hex}",
                                enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for event in events:
            parsed = parse_event(event, allow_intake_attributes=True)
            owner = owner_of(parsed.type)
            assert owner is not None
            async with producer.transaction():
                await producer.send(owner.topic, canonical_json(event), key=partition_key(parsed).encode())
    finally:
        await producer.stop()


async def _committed_and_last(bootstrap: str, group: str) -> tuple[dict[Any, int], dict[Any, int]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = {(tp.topic, tp.partition): meta.offset
                     for tp, meta in (await admin.list_consumer_group_offsets(group)).items()}
    finally:
        await admin.close()
    last: dict[Any, int] = {}
    for topic in ("incidents", "notifications"):
        for record in read_topic(bootstrap, topic):
            last[(topic, record.partition)] = max(last.get((topic, record.partition), -1), record.offset)
    return committed, last


# -- defect 3: commits keep up with records written in transactions ---------------------------------
async def test_offsets_of_records_written_in_transactions_are_committed_within_seconds(
        broker: KafkaBroker, worker: ProcessorProcess) -> None:
    events = raw(*[b.warning(f"w-tx-{i}", f"tx-{i % 12}", 1) for i in range(150)],
                 *[b.incident(f"r-tx-{i}", f"inc-tx-{i}", 2, [f"tx-{i % 12}"]) for i in range(150)])
    await _produce_in_transactions(broker.bootstrap, events)
    wait_until_live_equals_replay(broker.bootstrap, timeout=60)

    deadline = time.monotonic() + 15
    while True:  # every handled record's offset committed within 15 s
        committed, last = await _committed_and_last(broker.bootstrap, "gvi-processor")
        behind = {tp: (committed.get(tp), offset + 1) for tp, offset in last.items()
                  if committed.get(tp, -1) < offset + 1}
        if not behind:
            break
        assert time.monotonic() < deadline, f"committed offsets behind the records handled: {behind}"
        await asyncio.sleep(0.5)
    status, body = readiness(worker)
    assert status == 200, body
    assert body["oldest_uncommitted_record_seconds"] < 5


# -- defect 6 (processor side): a second copy of an id with other content is counted, not silent ---
async def test_a_copy_of_an_id_with_other_content_is_counted(
        broker: KafkaBroker, worker: ProcessorProcess) -> None:
    before = worker.metric("gvi_processor_conflicting_copies_total")
    await _produce_in_transactions(broker.bootstrap, raw(
        b.registered("reused-id", "reused", "Reused"), b.incident("reused-id", "inc-reused", 2, ["reused"])))
    wait_for(lambda: worker.metric("gvi_processor_conflicting_copies_total") == before + 1, 30,
             "the conflicting copy to be counted")
    wait_until_live_equals_replay(broker.bootstrap, timeout=60)


# -- defect 5 (processor side): a broker outage shows on /readyz -------------------------------------
def test_the_worker_is_not_ready_while_the_broker_is_down_and_ready_again_after(
        broker: KafkaBroker, worker: ProcessorProcess) -> None:
    assert readiness(worker)[0] == 200
    broker.kill()
    try:
        body = wait_for(lambda: (lambda r: r[1] if r[0] == 503 else None)(readiness(worker)), 30,
                        "/readyz to say not ready")
        assert body["reason"].startswith("the broker has not answered for")
        assert worker.metric("gvi_processor_ready") == 0
    finally:
        broker.start()
    wait_for(lambda: readiness(worker)[0] == 200, 90, "/readyz to say ready again")
    produce(broker.bootstrap, raw(b.warning("w-after-outage", "outage", 1),
                                  b.incident("r-after-outage", "inc-after-outage", 2, ["outage"])))
    wait_until_live_equals_replay(broker.bootstrap, timeout=60)


# -- defect 4: SIGKILL twice within 20 s: serving within 15 s each time, never an exit ---------------
def test_a_worker_killed_twice_in_twenty_seconds_serves_again_within_fifteen_each_time(
        broker: KafkaBroker, worker: ProcessorProcess, tmp_path: Path) -> None:
    for round_ in range(2):
        worker.kill()
        killed = time.monotonic()
        worker.start(timeout=15)  # fails if the worker exits (it exited 3) or is not ready in 15 s
        group = f"killed-{round_}"
        produce(broker.bootstrap, raw(b.warning(f"w-{group}", group, 1),
                                      b.incident(f"r-{group}", f"inc-{group}", 2, [group])))
        wait_for(lambda g=group: live_view(broker.bootstrap).group(g) is not None,
                 max(1.0, 15 - (time.monotonic() - killed)), f"{group}'s state within 15 s of the SIGKILL")
        if round_ == 0:
            time.sleep(max(0.0, 5 - (time.monotonic() - killed)))
    wait_until_live_equals_replay(broker.bootstrap, timeout=60)
    contents: dict[str, set[bytes]] = {}
    for record in alert_records(broker.bootstrap):
        key = record["alert_id"] + ("/withdrawn" if record.get("withdrawn") else "")
        contents.setdefault(key, set()).add(json.dumps(record, sort_keys=True).encode())
    assert all(len(versions) == 1 for versions in contents.values())
