"""The broker that tests and `make run` use: topics as the contract says, and records that survive."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from devtools.broker import KafkaBroker
from services.contracts.topics import ALL_TOPICS, SOURCE_TOPICS
from services.infra.topics import ensure_topics


def _topic_configs(bootstrap: str, names: list[str]) -> dict[str, dict[str, str]]:
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    return {
        name: {key: c["value"] for key, c in configs.items()} for name, configs in described["topic"].items()
    }


def test_every_contract_topic_exists_with_three_partitions_or_its_fixed_count(kafka_bootstrap: str) -> None:
    with KafkaAdminClient(bootstrap_servers=kafka_bootstrap) as admin:
        topics = {t["name"]: t for t in admin.describe_topics([spec.name for spec in ALL_TOPICS])}
    assert set(topics) == {spec.name for spec in ALL_TOPICS}
    assert {spec.name: len(topics[spec.name]["partitions"]) for spec in ALL_TOPICS} == {
        spec.name: spec.partitions or 3 for spec in ALL_TOPICS}
    assert topics["person-keys"]["partitions"] and len(topics["person-keys"]["partitions"]) == 1


def test_source_topics_keep_records_forever(kafka_bootstrap: str) -> None:
    configs = _topic_configs(kafka_bootstrap, [spec.name for spec in SOURCE_TOPICS])
    assert {name: c.get("retention.ms") for name, c in configs.items()} == {
        spec.name: "-1" for spec in SOURCE_TOPICS
    }


def test_group_state_is_compacted(kafka_bootstrap: str) -> None:
    assert _topic_configs(kafka_bootstrap, ["group-state"])["group-state"]["cleanup.policy"] == "compact"


def test_ensure_topics_is_idempotent(kafka_bootstrap: str) -> None:
    assert ensure_topics(kafka_bootstrap, partitions=3, replication_factor=1) == []


@pytest.mark.parametrize("interrupt", [KafkaBroker.stop, KafkaBroker.kill], ids=["clean-stop", "crash"])
def test_acknowledged_record_survives_a_broker_restart(
    broker_restarter: KafkaBroker, interrupt: Callable[[KafkaBroker], None]
) -> None:
    topic = f"test-durability-{uuid.uuid4().hex[:8]}"
    with KafkaAdminClient(bootstrap_servers=broker_restarter.bootstrap) as admin:
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
    value = uuid.uuid4().bytes
    producer = KafkaProducer(bootstrap_servers=broker_restarter.bootstrap, acks="all")
    try:
        sent = producer.send(topic, key=b"group-1", value=value).get(timeout=30)
    finally:
        producer.close()

    interrupt(broker_restarter)
    assert not broker_restarter.running
    broker_restarter.start()

    consumer = KafkaConsumer(bootstrap_servers=broker_restarter.bootstrap, enable_auto_commit=False)
    try:
        partition = TopicPartition(topic, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while not records and time.monotonic() < deadline:
            records = consumer.poll(timeout_ms=1000, max_records=1).get(partition, [])
    finally:
        consumer.close()
    assert [(r.key, r.value) for r in records] == [(b"group-1", value)]
