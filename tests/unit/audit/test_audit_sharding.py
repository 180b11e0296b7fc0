"""How `gvi-audit` conducts its shard processes: relaying, merging their lines, passing on their errors.

The shards here are threads speaking the shards' protocol over real pipes, so that what is tested is
`sharding._conduct` itself; that real shard processes give the whole log's answer is tested through
the CLI against the broker (tests/integration/test_audit_replay.py).
"""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Callable
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

import pytest

from services.audit import errors
from services.audit.replay import ReplayStats
from services.audit.sharding import ShardsDisagree, _body, _conduct, _frame

pytestmark = pytest.mark.unit


def _check(*keys: int) -> tuple[Any, ...]:
    """A shard's "c" message body: counts, events by topic, and its hashes (of its events' keys only)."""
    counts = (len(keys), len(keys), 0, 0, 0)
    return counts, {"sanctions": len(keys)}, array("q", keys).tobytes(), b"", b"", b""


def _run(shards: list[Callable[[Connection, list[bytes]], None]]) -> tuple[list[bytes], list[list[bytes]]]:
    """What `_conduct` yields with these fake shards, and what each shard received."""
    ours, received, threads = [], [], []
    for play in shards:
        mine, theirs = Pipe(duplex=True)
        got: list[bytes] = []
        thread = threading.Thread(target=play, args=(theirs, got), daemon=True)
        thread.start()
        ours.append(mine)
        received.append(got)
        threads.append(thread)
    out = list(_conduct(ours, [None] * len(ours), ReplayStats(), None))
    for thread in threads:
        thread.join(5)
    return out, received


def _shard(index: int, count: int, keys: list[int], lines: list[tuple[str, bytes]],
           per_message: int = 1) -> Callable[[Connection, list[bytes]], None]:
    def play(connection: Connection, got: list[bytes]) -> None:
        try:
            speak(connection, got)
        except (EOFError, OSError):  # the caller has gone (it raised): a real shard halts
            pass

    def speak(connection: Connection, got: list[bytes]) -> None:
        connection.send_bytes(_frame("s", len(keys)))
        connection.send_bytes(_frame("p", len(keys)))
        connection.send_bytes(_frame("c", *_check(*keys)))
        got.append(connection.recv_bytes())  # go, or halt
        if got[-1][:1] != b"g":
            return
        connection.send_bytes(_frame("m", f"members of {index}".encode()))
        for other in range(count):
            if other != index:
                connection.send_bytes(_frame("x", f"parts from {index}".encode(), to=other))
        for at in range(0, len(lines), per_message):
            connection.send_bytes(_frame("l", lines[at:at + per_message]))
        connection.send_bytes(_frame("d", len(lines)))
        while len(got) < 1 + 2 * (count - 1):  # the others' memberships and parts for this shard
            got.append(connection.recv_bytes())
    return play


def test_lines_are_merged_in_group_order_and_memberships_and_parts_relayed() -> None:
    first = [(f"g-{i:03}", f"{i}\n".encode()) for i in range(0, 60, 2)]
    second = [(f"g-{i:03}", f"{i}\n".encode()) for i in range(1, 60, 2)]
    out, received = _run([_shard(0, 2, [1, 2], first), _shard(1, 2, [3], second, per_message=7)])
    assert out == [f"{i}\n".encode() for i in range(60)] + [b"60"]
    assert [_body(m) for m in received[0][1:]] == [(b"members of 1",), (b"parts from 1",)]
    assert [_body(m) for m in received[1][1:]] == [(b"members of 0",), (b"parts from 0",)]


def test_a_shard_far_ahead_of_the_merge_is_read_as_the_merge_needs_it() -> None:
    # every line of the first shard sorts after every line of the second: it waits, it is not lost
    early = [(f"a-{i:04}", b"a\n") for i in range(200)]
    late = [(f"z-{i:04}", b"z\n") for i in range(200)]
    out, _ = _run([_shard(0, 2, [1], late), _shard(1, 2, [2], early)])
    assert out == [b"a\n"] * 200 + [b"z\n"] * 200 + [b"400"]


def test_an_event_in_two_shards_halts_them_and_is_named() -> None:
    halted: list[bytes] = []

    def shard(keys: list[int]) -> Callable[[Connection, list[bytes]], None]:
        inner = _shard(0, 2, keys, [])

        def play(connection: Connection, got: list[bytes]) -> None:
            inner(connection, got)
            halted.extend(got)
        return play

    with pytest.raises(ShardsDisagree, match="an event"):
        _run([shard([1, 2]), shard([2, 3])])
    deadline = time.monotonic() + 5
    while len(halted) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [m[:1] for m in halted] == [b"h", b"h"]


@pytest.mark.parametrize("when", ["reading", "merging"])
def test_a_shard_s_error_is_raised_as_the_same_kind_of_error(when: str) -> None:
    def failing(connection: Connection, got: list[bytes]) -> None:
        error = errors.report(errors.BrokerUnreachable("no Kafka broker reachable at x:1"), "a shard process")
        if when == "merging":
            connection.send_bytes(_frame("s", 1))
            connection.send_bytes(_frame("c", *_check(9)))
            got.append(connection.recv_bytes())
            connection.send_bytes(_frame("m", b""))
            connection.send_bytes(_frame("x", b"", to=1))
        connection.send_bytes(_frame("e", *error))

    with pytest.raises(errors.BrokerUnreachable, match="x:1"):
        _run([failing, _shard(1, 2, [1], [("g-1", b"1\n")])])
