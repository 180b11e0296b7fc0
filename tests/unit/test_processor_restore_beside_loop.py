"""A restarting worker rebuilds its ledger beside its event loop (`restore_beside_loop`): a large
history takes a minute or more, and a loop stopped that long answers no health probe, sends no
heartbeat, and gets the worker restarted by its liveness probe before it has finished loading."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime

from services.sanctions.processor.core import ProcessorCore, TopicPartition
from services.sanctions.processor.recovery import restore_beside_loop
from tests.unit.domain import builders as b
from tests.unit.test_processor_core import NOW, WINDOW, Topics


class _WaitsForTheLoop(ProcessorCore):
    """A core whose restore finishes only once the event loop has run a callback meanwhile: on the
    loop itself it would wait out `patience` and fail."""

    def __init__(self, loop: asyncio.AbstractEventLoop, patience: float) -> None:
        super().__init__(window_days=WINDOW)
        self.loop_ran = threading.Event()
        self.patience = patience
        loop.call_soon_threadsafe(lambda: loop.call_later(0.01, self.loop_ran.set))

    def restore(self, stored: Iterable[bytes], committed: Mapping[TopicPartition, int],
                now: datetime | None = None) -> int:
        assert self.loop_ran.wait(self.patience), "the event loop did not run while the ledger was restored"
        return super().restore(stored, committed, now)


def _history() -> Topics:
    topics = Topics()
    core = ProcessorCore(window_days=WINDOW)
    topics.feed(core, 0, b.warning("w1", "norra", 1))
    topics.feed(core, 1, b.warning("w2", "sodra", 1))
    topics.feed(core, 2, b.incident("r1", "i1", 5, ["norra"]))
    topics.feed(core, 3, b.incident("r2", "i2", 6, ["sodra"]))
    topics.feed(core, 4, b.sanction("s1", 7, group="norra"))
    return topics


def test_the_event_loop_keeps_running_while_the_ledger_is_restored() -> None:
    topics = _history()

    async def restart() -> ProcessorCore:
        core = _WaitsForTheLoop(asyncio.get_running_loop(), patience=10)
        await restore_beside_loop(core, list(topics.store), {("incidents", 0): 5}, NOW)
        return core

    core = asyncio.run(restart())
    assert core.open_cases() == 1, "the ledger was rebuilt: i2 awaits its sanction, i1 has one"


def test_a_ledger_restored_beside_the_loop_is_the_one_restored_on_it() -> None:
    topics = _history()
    committed = {("incidents", 0): 4}  # the sanction was not committed: it is read again
    on_loop = ProcessorCore(window_days=WINDOW)
    assert on_loop.restore(list(topics.store), committed, now=NOW) == 4
    beside, entries = ProcessorCore(window_days=WINDOW), list(topics.store)
    assert asyncio.run(restore_beside_loop(beside, entries, committed, NOW)) == 4
    assert entries == [], "each raw entry is let go once decoded, not held beside the whole ledger"
    assert beside.open_cases() == on_loop.open_cases() == 2
    assert beside.reconcile({}, {}, NOW) == on_loop.reconcile({}, {}, NOW)


def test_a_worker_stopping_while_it_restores_stops_reading_its_fact_table() -> None:
    read: list[bytes] = []
    reading = threading.Event()

    class _Slow(ProcessorCore):
        def restore(self, stored: Iterable[bytes], committed: Mapping[TopicPartition, int],
                    now: datetime | None = None) -> int:
            for entry in stored:
                read.append(entry)
                reading.set()
                threading.Event().wait(0.01)
            return len(read)

    async def stop_while_restoring() -> None:
        task = asyncio.ensure_future(restore_beside_loop(_Slow(), [b"x"] * 10_000, {}, NOW))
        await asyncio.to_thread(reading.wait, 10)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        else:
            raise AssertionError("the restore was not cancelled")
        await asyncio.sleep(0.2)  # the thread notices between two entries

    asyncio.run(stop_while_restoring())
    stopped_at = len(read)
    threading.Event().wait(0.2)
    assert len(read) == stopped_at < 10_000, "the thread went on reading after the worker stopped"
