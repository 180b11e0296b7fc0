"""`LogReader`, the audit's synchronous reader over aiokafka, on the real broker: it reads a committed
cut from any one thread, a caller that stops early leaves no consumer behind, and a missing topic or
an unreachable broker is the audit's own error."""

from __future__ import annotations

import gc
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor

import pytest
from kafka import KafkaProducer

from devtools.bench.common import create_topic
from devtools.broker import free_port
from services.audit.library.errors import BrokerUnreachable, NotFound
from services.audit.library.kafka_log import LogReader, TopicPartition


def topic_with(bootstrap: str, count: int) -> str:
    topic = f"reader-bridge-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(count):
        producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=i % 3)
    producer.flush()
    producer.close()
    return topic


def test_a_reader_reads_to_the_end_from_another_thread_than_its_own(kafka_bootstrap: str) -> None:
    topic = topic_with(kafka_bootstrap, 30)
    told: list[tuple[int, int]] = []
    with LogReader(kafka_bootstrap) as reader, ThreadPoolExecutor(1) as other:
        partitions = other.submit(reader.partitions, topic).result()
        assert partitions == [TopicPartition(topic, p) for p in range(3)]
        assert reader.end_offsets(partitions) == dict.fromkeys(partitions, 10)
        values = other.submit(lambda: [r.value for batch in reader.read_topics(
            [topic], progress=lambda done, total: told.append((done, total))) for r in batch]).result()
    assert sorted(values) == sorted(f"v{i}".encode() for i in range(30))
    assert told[-1] == (30, 30)


def test_a_caller_that_stops_reading_early_leaves_no_consumer_open(kafka_bootstrap: str) -> None:
    topic = topic_with(kafka_bootstrap, 30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with LogReader(kafka_bootstrap) as reader:
            for _ in reader.read_topics([topic]):
                break  # the iterator is dropped here, unfinished
            unfinished = reader.read_topics([topic])
            next(unfinished)  # still held when the reader closes
            assert len(list(reader.read_topics([topic]))) >= 1  # the reader reads on meanwhile
        del unfinished
        gc.collect()
    assert not [w for w in caught if "Unclosed" in str(w.message) or "never awaited" in str(w.message)]


def test_a_missing_topic_and_an_unreachable_broker_are_the_audits_errors(kafka_bootstrap: str) -> None:
    with LogReader(kafka_bootstrap) as reader:
        with pytest.raises(NotFound, match="does not exist"):
            reader.partitions(f"no-such-topic-{uuid.uuid4().hex[:8]}")
        assert reader.partitions(f"no-such-topic-{uuid.uuid4().hex[:8]}", missing_ok=True) == []
    gone = f"127.0.0.1:{free_port()}"
    with LogReader(gone, timeout_s=2) as reader, pytest.raises(BrokerUnreachable,
                                                               match=f"no Kafka broker reachable at {gone}"):
        reader.partitions("incidents")
    with LogReader(gone, timeout_s=2) as reader, pytest.raises(BrokerUnreachable,
                                                               match=f"no Kafka broker reachable at {gone}"):
        list(reader.read([TopicPartition("incidents", 0)], ends={TopicPartition("incidents", 0): 5}))
