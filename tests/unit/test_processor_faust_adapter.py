"""The processor's faust adapter: the private faust names it relies on still exist, and the consumer
commits past transaction markers in one step (issue 18: commits fell behind without bound)."""

from __future__ import annotations

import asyncio
import inspect
import re
import tomllib
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

from services.sanctions.processor import faust_adapter
from services.sanctions.processor.faust_adapter import FAUST_VERSION, BulkApp, gap_between

ROOT = Path(__file__).resolve().parents[2]


def test_the_faust_version_the_adapter_was_written_for_is_the_one_pinned_and_installed() -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"faust-streaming=={FAUST_VERSION}" in pins
    assert version("faust-streaming") == FAUST_VERSION


@pytest.mark.parametrize(("owner", "name", "parameters"), [
    (FaustConsumer, "_drain_messages", ["self", "fetcher"]),
    (FaustConsumer, "_commit_offsets", ["self", "offsets", "start_new_transaction"]),
    (FaustConsumer, "_add_gap", ["self", "tp", "offset_from", "offset_to"]),
    (FaustConsumer, "_new_offset", ["self", "tp"]),
    (FaustConsumer, "_wait_next_records", ["self", "timeout"]),
    (FaustConsumer, "_to_message", ["self", "tp", "record"]),
    (faust_aiokafka.Consumer, "_new_consumer_thread", ["self"]),
    (faust_aiokafka.AIOKafkaConsumerThread, "_create_worker_consumer", ["self", "transport"]),
    (faust_aiokafka.Producer, "_ensure_producer", ["self"]),
    (faust.App, "_new_transport", ["self"]),
])
def test_the_private_faust_methods_the_adapter_overrides_or_calls_keep_their_names(
        owner: type, name: str, parameters: list[str]) -> None:
    assert list(inspect.signature(getattr(owner, name)).parameters) == parameters


def test_the_private_faust_attributes_the_adapter_reads_still_exist() -> None:
    consumer = inspect.getsource(FaustConsumer)
    for attribute in ("_read_offset", "_committed_offset", "_acked", "_gap", "_commit_every", "_n_acked"):
        assert re.search(rf"self\.{attribute}\b", consumer), attribute
    thread_source = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread)
    assert "def _ensure_consumer" in thread_source
    assert hasattr(faust.streams, "_current_event")
    assert "stream_inbound_time" in inspect.getsource(faust.Monitor.__init__)
    aiokafka_consumer = inspect.getsource(faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer)
    assert "group_instance_id=conf.consumer_group_instance_id" in aiokafka_consumer


@pytest.mark.parametrize(("read", "offset", "gap"), [
    (None, 0, None), (None, 7, None), (3, 4, None), (3, 5, (4, 4)), (3, 9, (4, 8)), (0, 2, (1, 1)),
])
def test_a_gap_is_the_offsets_strictly_between_two_records_and_offset_zero_counts(
        read: int | None, offset: int, gap: tuple[int, int] | None) -> None:
    assert gap_between(read, offset) == gap


class _Handler:
    bulk_topics = frozenset({"incidents"})

    def __init__(self, take: bool = True) -> None:
        self.take = take
        self.taken: list[int] = []
        self.events: list[str] = []

    def fetching(self) -> None:
        self.events.append("fetching")

    async def take_records(self, messages: Sequence[Message]) -> bool:
        self.events.append(f"took {len(messages)}")
        if self.take:
            self.taken.extend(m.offset for m in messages)
        return self.take

    async def before_commit(self) -> None:
        pass

    def committed(self, offsets: Mapping[TP, int]) -> None:
        pass


def _records(tp: TP, offsets: range) -> dict[TP, list[ConsumerRecord]]:
    return {tp: [ConsumerRecord(tp.topic, tp.partition, offset, 1_700_000_000_000, 0, b"k", b"v", None,
                                1, 1, ()) for offset in offsets]}


def _consumer(handler: _Handler) -> faust_adapter._Consumer:
    app = BulkApp("adapter-test", broker="kafka://127.0.0.1:1", web_enabled=False)
    app.handler = handler
    app.topics._acking_topics.add("incidents")  # what faust does for an agent's topic when it starts
    consumer = app.consumer
    assert isinstance(consumer, faust_adapter._Consumer)
    return consumer


async def test_records_written_in_transactions_are_committed_to_the_last_one_in_one_step() -> None:
    """Each intake record is a transaction of its own: a record, then its commit marker. The commit
    after handling them must cover every record at once (it advanced one record per commit when the
    gap included the record's own offset)."""
    handler, tp = _Handler(), TP("incidents", 0)
    consumer = _consumer(handler)
    await consumer._handle_fetch(_records(tp, range(0, 400, 2)))
    await consumer._handle_fetch(_records(tp, range(400, 800, 2)))
    assert handler.taken == list(range(0, 800, 2))
    assert consumer._new_offset(tp) == 799  # the last record (798) + 1
    assert consumer._new_offset(tp) is None


async def test_handled_partitions_count_as_processed_for_fausts_stall_check() -> None:
    """faust logs "Stream has not started processing" for a partition its monitor has seen no event
    of: records handled in bulk must count, or the alarm is false."""
    handler, tp = _Handler(), TP("incidents", 0)
    consumer = _consumer(handler)
    assert tp not in consumer.app.monitor.stream_inbound_time
    await consumer._handle_fetch(_records(tp, range(0, 3)))
    assert tp in consumer.app.monitor.stream_inbound_time


async def test_after_a_seek_to_a_committed_marker_the_next_records_commit_too() -> None:
    handler, tp = _Handler(), TP("incidents", 1)
    consumer = _consumer(handler)
    consumer._read_offset[tp] = consumer._committed_offset[tp] = 11  # faust after seeking to 11
    await consumer._handle_fetch(_records(tp, range(12, 40, 2)))
    assert consumer._new_offset(tp) == 39


async def test_records_not_taken_are_not_acknowledged_so_they_are_read_again() -> None:
    handler, tp = _Handler(take=False), TP("incidents", 2)
    consumer = _consumer(handler)
    consumer.app.consumer_generation_id = 1  # type: ignore[attr-defined]

    async def rebalance() -> None:
        consumer.app.consumer_generation_id = 2  # type: ignore[attr-defined]

    asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(rebalance()))
    await asyncio.wait_for(consumer._handle_fetch(_records(tp, range(0, 10))), 5)
    assert consumer._new_offset(tp) is None


async def test_the_consumer_says_it_is_fetching_again_only_after_the_last_fetch_was_handled() -> None:
    """The worker is caught up only once the fetch that reached the end is handled: the consumer's
    request for the next fetch is how it knows (`Health.follow_catch_up`)."""
    handler, tp = _Handler(), TP("incidents", 0)
    consumer = _consumer(handler)
    fetches = [_records(tp, range(0, 5)), _records(tp, range(5, 8))]

    Fetched = tuple[dict[TP, list[ConsumerRecord]], set[TP]]

    async def next_records(timeout: float) -> Fetched:  # noqa: ASYNC109 (faust's signature)
        if not fetches:
            consumer._stopped.set()
            return {}, set()
        return fetches.pop(0), {tp}

    consumer._wait_next_records = next_records  # type: ignore[method-assign]
    consumer.flow_active = True
    fetcher = SimpleNamespace(_stopped=asyncio.Event())  # faust's fetcher service: never stopped here
    await asyncio.wait_for(consumer._drain_messages(fetcher), 5)
    assert handler.events == ["fetching", "took 5", "fetching", "took 3", "fetching"]
