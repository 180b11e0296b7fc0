"""The publisher port's contract, passed by the fake and by the real Kafka adapter alike."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka.producer.sender import EndTxnHandler
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from services.intake.errors import BrokerUnavailable
from services.intake.kafka import KafkaPublisher, ReceiptFeed
from services.intake.ledger import ReceiptLedger
from services.intake.publishing import FakePublisher, OutgoingRecord, Placement, Publisher
from tests.integration.test_intake_kafka import read_topic

TOPIC = "contract-test"  # not a source topic: these records are no events
Reader = Callable[[], list[tuple[str, bytes, int, int]]]  # (key, value, partition, offset)


@pytest.fixture(params=["fake", "kafka"])
async def port(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Publisher, Reader]]:
    if request.param == "fake":
        fake = FakePublisher()

        def read_fake() -> list[tuple[str, bytes, int, int]]:
            return [(r.key, r.value, p.partition, p.offset) for r, p in fake.log]

        yield fake, read_fake
        return
    broker = request.getfixturevalue("kafka_broker")
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    with contextlib.suppress(TopicAlreadyExistsError):
        admin.create_topics([NewTopic(TOPIC, 3, 1)])
    admin.close()
    # One lane, so a failing request meets the producer that already holds a transaction's state.
    kafka = KafkaPublisher(broker.bootstrap, timeout_seconds=5, client_id="contract", lanes=1)
    await kafka.start()

    def read_kafka() -> list[tuple[str, bytes, int, int]]:
        return [(r.key.decode(), r.value, r.partition, r.offset)
                for r in read_topic(broker.bootstrap, TOPIC)]

    yield kafka, read_kafka
    await kafka.close()


def records(tag: str, n: int) -> list[OutgoingRecord]:
    return [OutgoingRecord(TOPIC, f"{tag}-{i % 2}", json.dumps({"tag": tag, "i": i}).encode())
            for i in range(n)]


def landed(read: Reader, tag: str) -> list[tuple[str, dict[str, Any], int, int]]:
    out = []
    for key, value, partition, offset in read():
        body = json.loads(value)
        if isinstance(body, dict) and body.get("tag") == tag:
            out.append((key, body, partition, offset))
    return out


@pytest.mark.parametrize("atomic", [False, True])
async def test_placements_answer_each_record_in_order(port: tuple[Publisher, Reader], atomic: bool) -> None:
    publisher, read = port
    tag = f"order-{atomic}"
    placements = await publisher.publish(records(tag, 6), atomic=atomic)
    assert [p.topic for p in placements] == [TOPIC] * 6
    found = {body["i"]: Placement(TOPIC, partition, offset)
             for _, body, partition, offset in landed(read, tag)}
    assert [found[i] for i in range(6)] == placements
    same_key = [p for i, p in enumerate(placements) if i % 2 == 0]
    assert len({p.partition for p in same_key}) == 1
    assert [p.offset for p in same_key] == sorted(p.offset for p in same_key)


async def test_concurrent_requests_each_land_once(port: tuple[Publisher, Reader]) -> None:
    publisher, read = port
    await asyncio.gather(*(publisher.publish(records(f"concurrent-{n}", 3), atomic=False) for n in range(20)))
    for n in range(20):
        assert sorted(b["i"] for _, b, _, _ in landed(read, f"concurrent-{n}")) == [0, 1, 2]


async def test_failure_is_broker_unavailable_and_publishes_nothing(
        port: tuple[Publisher, Reader], request: pytest.FixtureRequest) -> None:
    publisher, read = port
    if isinstance(publisher, FakePublisher):
        publisher.reachable = False
        with pytest.raises(BrokerUnavailable):
            await publisher.publish(records("down", 2), atomic=True)
        publisher.reachable = True
    else:
        broker = request.getfixturevalue("broker_restarter")
        await publisher.publish(records("warm", 1), atomic=True)
        broker.stop()
        try:
            with pytest.raises(BrokerUnavailable):
                await publisher.publish(records("down", 2), atomic=True)
        finally:
            broker.start()
        await asyncio.sleep(12)  # no requests: a producer that kept the records would deliver them now
    assert landed(read, "down") == []
    assert len(await publisher.publish(records("after", 2), atomic=True)) == 2


async def test_requests_that_wait_are_committed_together_in_few_transactions(kafka_broker: Any) -> None:
    """Group commit: requests that arrive while a transaction commits share the next one (the
    broker's work per transaction is about the same for one record or many); each lands once."""
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    with contextlib.suppress(TopicAlreadyExistsError):
        admin.create_topics([NewTopic(TOPIC, 3, 1)])
    admin.close()
    groups: list[tuple[int, int]] = []
    # A generous deadline: a fresh broker creates its transaction log on the first transaction.
    kafka = KafkaPublisher(kafka_broker.bootstrap, timeout_seconds=30, client_id="grouping", lanes=3,
                           on_commit=lambda requests, n: groups.append((requests, n)))
    await kafka.start()
    try:
        await kafka.publish(records("group-warm", 1), atomic=True)
        groups.clear()

        async def client(n: int) -> None:
            await asyncio.sleep(n * 0.002)  # requests arriving one by one, 2 ms apart
            await kafka.publish(records(f"group-{n}", 2), atomic=False)

        await asyncio.gather(*(client(n) for n in range(40)))
    finally:
        await kafka.close()
    assert sum(r for r, _ in groups) == 40 and sum(n for _, n in groups) == 80
    assert len(groups) <= 15, groups  # a transaction takes milliseconds: those that come meanwhile share one
    log = [(r.key.decode(), r.value, r.partition, r.offset)
           for r in read_topic(kafka_broker.bootstrap, TOPIC)]
    for n in range(40):
        assert sorted(b["i"] for _, b, _, _ in landed(lambda: log, f"group-{n}")) == [0, 1]


def event_record(event_id: str) -> OutgoingRecord:
    """A record the receipt feed takes for an accepted event (a receipt needs these fields)."""
    value = json.dumps({"id": event_id, "source": "/agencies/test", "type": "test.event",
                        "recordedtime": "2026-01-01T00:00:00Z"}).encode()
    return OutgoingRecord(TOPIC, event_id, value, (("gvi-content-digest", b"sha256:test"),))


async def test_a_commit_whose_answer_is_lost_settles_only_once_its_outcome_is_readable(
        broker_restarter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The broker stops (SIGSTOP) just as the publisher asks it to commit: the request sits in the
    socket, the publisher answers BrokerUnavailable, and only the broker knows whether the records
    will be committed once it runs again. `settled` must wait for that, and by then the receipt
    feed must hold the records if and only if they were committed: that is what lets the intake
    answer a retry with the original receipt instead of writing a second copy."""
    broker = broker_restarter
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    with contextlib.suppress(TopicAlreadyExistsError):
        admin.create_topics([NewTopic(TOPIC, 3, 1)])
    admin.close()
    ledger = ReceiptLedger()
    feed = ReceiptFeed(broker.bootstrap, [TOPIC], ledger, client_id="doubt")
    feed.start()
    publisher = KafkaPublisher(broker.bootstrap, timeout_seconds=3, client_id="doubt", lanes=1,
                               settle=feed.read_past_now)
    await publisher.start()
    pid = broker.pid
    original = EndTxnHandler.create_request
    stopped: list[int] = []

    def stop_the_broker_then_ask(handler: EndTxnHandler) -> Any:
        if not stopped:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        return original(handler)

    try:
        await asyncio.wait_for(feed.caught_up.wait(), 30)
        await publisher.publish([event_record("doubt-warm")], atomic=True)
        monkeypatch.setattr(EndTxnHandler, "create_request", stop_the_broker_then_ask)
        ids = ["doubt-1", "doubt-2"]
        with pytest.raises(BrokerUnavailable) as failure:
            await publisher.publish([event_record(i) for i in ids], atomic=True)
        assert stopped, "the commit was never asked for"
        settled = failure.value.settled
        assert settled is not None, "a failure after the commit was asked for must be in doubt"
        await asyncio.sleep(1)
        assert not settled.done(), "settled while the broker that holds the outcome was stopped"
        os.kill(pid, signal.SIGCONT)
        await asyncio.wait_for(asyncio.shield(settled), 60)
        written = [json.loads(r.value).get("id") for r in read_topic(broker.bootstrap, TOPIC)]
        committed = [i for i in ids if i in written]
        assert committed in ([], ids), "a transaction is all or nothing"
        known = [i for i in ids if ledger.get("/agencies/test", i) is not None]
        assert known == committed, f"settled, but the ledger knows {known} of the committed {committed}"
    finally:
        if stopped:
            os.kill(pid, signal.SIGCONT)
        await publisher.close()
        await feed.stop()
