"""The one way everything here reads Kafka (`services.infra.feed`), on the real broker: a read to the
end sees one committed cut of a growing log, and a feed loads, follows, survives a broker restart
without delivering a record twice, and can wait until what was just committed has been delivered."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from devtools.bench.common import create_topic
from devtools.broker import KafkaBroker
from services.infra.feed import (
    Batch,
    MissingTopic,
    TopicFeed,
    TopicPartition,
    partitions_of,
    read_to_end,
    reading_consumer,
)


def fresh_topic(bootstrap: str) -> str:
    name = f"feed-test-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, name)
    return name


async def write(bootstrap: str, topic: str, values: list[bytes], *, abort: bool = False) -> None:
    """`values` in one transaction, each keyed by itself (so they spread over the partitions)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"t-{uuid.uuid4().hex[:8]}")
    await producer.start()
    try:
        await producer.begin_transaction()
        for value in values:
            await producer.send(topic, key=value, value=value)
        if abort:
            await producer.abort_transaction()
        else:
            await producer.commit_transaction()
    finally:
        await producer.stop()


async def everything(bootstrap: str, sources: list[Any], **kw: Any) -> list[bytes]:
    return [r.value async for _, batch in read_to_end(bootstrap, sources, client_id="test", **kw)
            for r in batch]


async def test_a_read_to_the_end_sees_the_records_committed_when_it_began(kafka_bootstrap: str) -> None:
    topic = fresh_topic(kafka_bootstrap)
    await write(kafka_bootstrap, topic, [b"a1", b"a2", b"a3", b"a4"])
    await write(kafka_bootstrap, topic, [b"aborted"], abort=True)
    spans: list[int] = []
    seen: list[bytes] = []
    async for _, batch in read_to_end(kafka_bootstrap, [topic], client_id="test", started=spans.append):
        if not seen:  # the log grows while it is read: the read keeps to its cut
            await write(kafka_bootstrap, topic, [b"later"])
        seen += [r.value for r in batch]
    assert sorted(seen) == [b"a1", b"a2", b"a3", b"a4"]
    assert spans and spans[0] >= 5  # offsets spanned include the aborted record and the markers
    assert sorted(await everything(kafka_bootstrap, [topic])) == [b"a1", b"a2", b"a3", b"a4", b"later"]


async def test_a_read_tells_its_progress_in_offsets_up_to_its_span(kafka_bootstrap: str) -> None:
    topic = fresh_topic(kafka_bootstrap)
    await write(kafka_bootstrap, topic, [f"p{i}".encode() for i in range(20)])
    await write(kafka_bootstrap, topic, [b"aborted"], abort=True)
    spans: list[int] = []
    told: list[tuple[int, int]] = []
    seen = await everything(kafka_bootstrap, [topic], started=spans.append,
                            progress=lambda done, total: told.append((done, total)))
    assert len(seen) == 20
    assert told and all(total == spans[0] for _, total in told)
    assert [done for done, _ in told] == sorted(done for done, _ in told)  # it only goes forward
    assert told[-1] == (spans[0], spans[0])  # markers and the aborted record are offsets read too


async def test_a_read_of_one_partition_from_an_offset(kafka_bootstrap: str) -> None:
    topic = fresh_topic(kafka_bootstrap)
    await write(kafka_bootstrap, topic, [f"v{i}".encode() for i in range(30)])
    whole = [r async for tp, batch in read_to_end(kafka_bootstrap, [TopicPartition(topic, 1)],
                                                  client_id="test") for r in batch]
    assert whole, "the 30 keys all hashed away from partition 1"
    later = await everything(kafka_bootstrap, [TopicPartition(topic, 1)],
                             start={TopicPartition(topic, 1): whole[1].offset})
    assert later == [r.value for r in whole[1:]]


async def test_a_missing_topic_is_an_error_unless_allowed(kafka_bootstrap: str) -> None:
    with pytest.raises(KafkaError, match="does not exist"):
        await everything(kafka_bootstrap, ["no-such-topic-here"])
    spans: list[int] = []
    found = await everything(kafka_bootstrap, ["no-such-topic-here"], missing_ok=True, started=spans.append)
    assert found == []
    assert spans == [0]


async def test_a_read_of_a_partition_the_broker_lacks_fails_at_once(kafka_bootstrap: str) -> None:
    topic = fresh_topic(kafka_bootstrap)  # three partitions: 0, 1, 2
    for missing in (TopicPartition("no-such-topic-here", 0), TopicPartition(topic, 7)):
        with pytest.raises(MissingTopic, match="does not exist"):
            await asyncio.wait_for(everything(kafka_bootstrap, [missing]), 20)
        assert await everything(kafka_bootstrap, [missing], missing_ok=True) == []



async def test_a_consumer_reading_one_topic_is_told_the_partitions_of_a_topic_created_since(
        kafka_bootstrap: str) -> None:
    topic = fresh_topic(kafka_bootstrap)
    consumer = reading_consumer(kafka_bootstrap, client_id="test")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.seek_to_beginning(TopicPartition(topic, 0))
        later = fresh_topic(kafka_bootstrap)  # three partitions, created after the consumer started
        found: list[TopicPartition] = []
        for _ in range(50):  # the broker may take a moment to list a topic it has just created
            found = await partitions_of(consumer, [later], missing_ok=True)
            if found:
                break
            await asyncio.sleep(0.1)
        assert found == [TopicPartition(later, p) for p in range(3)]
        assert await partitions_of(consumer, [topic, later]) == [
            *(TopicPartition(topic, p) for p in range(3)), *found]
        with pytest.raises(MissingTopic, match="no-such-topic-here"):
            await partitions_of(consumer, ["no-such-topic-here"])
    finally:
        await consumer.stop()

class Collected:
    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.loaded_with: int | None = None

    def deliver(self, batch: Batch) -> None:
        self.values += [r.value for records in batch.values() for r in records]

    def caught_up(self) -> None:
        self.loaded_with = len(self.values)


async def test_a_feed_loads_then_follows_and_waits_for_what_was_just_committed(kafka_bootstrap: str) -> None:
    topic = fresh_topic(kafka_bootstrap)
    await write(kafka_bootstrap, topic, [b"old1", b"old2"])
    seen = Collected()
    feed = TopicFeed(kafka_bootstrap, [topic], seen.deliver, client_id="test", on_caught_up=seen.caught_up)
    feed.start()
    try:
        await asyncio.wait_for(feed.caught_up.wait(), 30)
        assert seen.loaded_with == 2
        await write(kafka_bootstrap, topic, [b"new1", b"new2", b"new3"])
        await asyncio.wait_for(feed.read_past_now(), 30)
        assert sorted(seen.values) == [b"new1", b"new2", b"new3", b"old1", b"old2"]
    finally:
        await feed.stop()


async def test_a_feed_resumes_after_a_broker_restart_without_delivering_twice(
        broker_restarter: KafkaBroker) -> None:
    bootstrap = broker_restarter.bootstrap
    topic = fresh_topic(bootstrap)
    await write(bootstrap, topic, [f"before{i}".encode() for i in range(20)])
    seen = Collected()
    ticks: list[int] = []
    feed = TopicFeed(bootstrap, [topic], seen.deliver, client_id="test", on_tick=lambda: ticks.append(1))
    feed.start()
    try:
        await asyncio.wait_for(feed.caught_up.wait(), 30)
        await asyncio.to_thread(broker_restarter.stop)
        await asyncio.to_thread(broker_restarter.start)
        await write(bootstrap, topic, [f"after{i}".encode() for i in range(20)])
        await asyncio.wait_for(feed.read_past_now(), 90)
        assert len(seen.values) == 40
        assert len(set(seen.values)) == 40, "a record was delivered twice"
        assert ticks
    finally:
        await feed.stop()


async def test_reading_past_now_in_some_topics_is_not_held_up_by_an_open_transaction_in_another(
        kafka_bootstrap: str) -> None:
    quick, held = fresh_topic(kafka_bootstrap), fresh_topic(kafka_bootstrap)
    seen = Collected()
    feed = TopicFeed(kafka_bootstrap, [quick, held], seen.deliver, client_id="test")
    feed.start()
    open_one = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap,
                                transactional_id=f"t-{uuid.uuid4().hex[:8]}")
    await open_one.start()
    try:
        await asyncio.wait_for(feed.caught_up.wait(), 30)
        await open_one.begin_transaction()
        await open_one.send_and_wait(held, key=b"open", value=b"open")  # left open for now
        await write(kafka_bootstrap, quick, [b"q1", b"q2"])
        await asyncio.wait_for(feed.read_past_now([quick]), 30)
        assert sorted(seen.values) == [b"q1", b"q2"]
        with pytest.raises(TimeoutError):  # every topic: the open transaction is not decided yet
            await asyncio.wait_for(feed.read_past_now(), 3)
        await open_one.commit_transaction()
        await asyncio.wait_for(feed.read_past_now(), 30)
        assert sorted(seen.values) == [b"open", b"q1", b"q2"]
    finally:
        await open_one.stop()


async def write_to(bootstrap: str, topic: str, partition: int, values: list[bytes]) -> None:
    """`values` to one partition, without a transaction."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, partition=partition)
    finally:
        await producer.stop()


def add_partitions(bootstrap: str, topic: str, total: int) -> None:
    from kafka.admin import KafkaAdminClient, NewPartitions

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_partitions({topic: NewPartitions(total)})
    finally:
        admin.close()


async def test_a_feed_begins_where_told_and_picks_up_new_partitions_and_topics(kafka_bootstrap: str) -> None:
    topic = fresh_topic(kafka_bootstrap)
    late = f"feed-test-late-{uuid.uuid4().hex[:8]}"
    await write_to(kafka_bootstrap, topic, 0, [b"p0-0", b"p0-1", b"p0-2"])
    await write_to(kafka_bootstrap, topic, 1, [b"p1-0"])
    asked: list[TopicPartition] = []

    def start_at(tp: TopicPartition) -> int | None:
        asked.append(tp)
        return 2 if tp == TopicPartition(topic, 0) else None

    seen = Collected()
    feed = TopicFeed(kafka_bootstrap, [topic, late], seen.deliver, client_id="test", start_at=start_at,
                     refresh_seconds=0.3, missing_ok=True)
    feed.start()
    try:
        await asyncio.wait_for(feed.caught_up.wait(), 30)
        assert sorted(seen.values) == [b"p0-2", b"p1-0"]  # partition 0 from offset 2, the rest from 0
        add_partitions(kafka_bootstrap, topic, 4)
        create_topic(kafka_bootstrap, late)
        await write_to(kafka_bootstrap, topic, 3, [b"p3-0"])
        await write_to(kafka_bootstrap, late, 1, [b"late-0"])
        await write_to(kafka_bootstrap, topic, 0, [b"p0-3"])
        for _ in range(100):  # a refresh finds the new partitions; then they are read too
            if {TopicPartition(topic, 3), TopicPartition(late, 1)} <= set(feed.positions):
                break
            await asyncio.sleep(0.1)
        await asyncio.wait_for(feed.read_past_now(), 30)
        assert sorted(seen.values) == [b"late-0", b"p0-2", b"p0-3", b"p1-0", b"p3-0"]
        assert sorted(asked) == sorted({*asked}), "start_at was asked twice for a partition"
        assert {TopicPartition(topic, 3), TopicPartition(late, 1)} <= set(asked)
    finally:
        await feed.stop()


async def test_an_async_deliver_holds_the_feed_while_the_probe_goes_on(kafka_bootstrap: str) -> None:
    topic = fresh_topic(kafka_bootstrap)
    await write_to(kafka_bootstrap, topic, 0, [b"a", b"b", b"c"])
    release, holding = asyncio.Event(), asyncio.Event()
    batches: list[list[bytes]] = []
    contacts: list[float] = []

    async def deliver(batch: Batch) -> None:
        batches.append([r.value for records in batch.values() for r in records])
        holding.set()
        await release.wait()

    feed = TopicFeed(kafka_bootstrap, [topic], deliver, client_id="test", max_records=1,
                     probe_seconds=0.2, on_contact=lambda: contacts.append(1))
    feed.start()
    try:
        await asyncio.wait_for(holding.wait(), 30)
        before = len(contacts)
        await asyncio.sleep(1.5)
        assert batches == [[b"a"]], "the feed fetched again before deliver returned"
        assert feed.positions.get(TopicPartition(topic, 0), 0) == 0
        assert len(contacts) > before, "the probe stopped while deliver held the feed"
        release.set()
        await asyncio.wait_for(feed.caught_up.wait(), 30)
        assert [v for batch in batches for v in batch] == [b"a", b"b", b"c"]
    finally:
        await feed.stop()


async def test_a_feed_whose_deliver_fails_ends_and_says_why(kafka_bootstrap: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    topic = fresh_topic(kafka_bootstrap)
    await write_to(kafka_bootstrap, topic, 0, [b"a"])

    def deliver(batch: Batch) -> None:
        raise ValueError("cannot take this")

    feed = TopicFeed(kafka_bootstrap, [topic], deliver, client_id="test")
    feed.start()
    assert feed.running
    for _ in range(600):
        if not feed.running:
            break
        await asyncio.sleep(0.05)
    assert not feed.running
    assert "feed stopped: delivering its records failed" in caplog.text
    with pytest.raises(ValueError, match="cannot take this"):
        await feed.stop()
