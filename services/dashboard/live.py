"""Server-sent events: one hub fans every change out to every open page and script.

A message is encoded once and put on each client's bounded queue without waiting, so one slow
client never delays the others: a client whose queue is full is disconnected (its browser reconnects
by itself and its page reloads what it shows). Every client gets a `ping` event every heartbeat, so a
page can tell a quiet stream from a dead one and show itself stale.

Events: `hello` (on connect; with `stale_since`, null unless the feed is stale), `stale` and `fresh`
(the server's feed stopped hearing from the broker, and heard again: see `freshness`), `group` (a
group's board line, or `{"group_id", "removed": true}`), `alert` (an alert as it now stands),
`sources` (incidents, call-ins or support changed: statistics and briefs), `ping`. Access-log
entries are never broadcast (only auditors may see them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

__all__ = ["Hub", "sse_message"]

_CLOSE = b""


def sse_message(event: str, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event}\ndata: {payload}\n\n".encode()


class Hub:
    def __init__(self, *, queue_size: int = 1000, on_drop: Callable[[], None] = lambda: None) -> None:
        self._queue_size = queue_size
        self._clients: set[asyncio.Queue[bytes]] = set()
        self._on_drop = on_drop
        self._closed = False

    def __len__(self) -> int:
        return len(self._clients)

    def publish(self, message: bytes) -> None:
        for queue in list(self._clients):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self._drop(queue)

    def _drop(self, queue: asyncio.Queue[bytes]) -> None:
        self._clients.discard(queue)
        self._on_drop()
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(_CLOSE)

    async def stream(self, hello: bytes, *, heartbeat_seconds: float) -> AsyncIterator[bytes]:
        """One client's stream: `hello`, then every published message, with pings in between; ends
        when the client is dropped or the hub closes."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(self._queue_size)
        if self._closed:
            return
        self._clients.add(queue)
        try:
            yield b"retry: 1000\n\n" + hello
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), heartbeat_seconds)
                except TimeoutError:
                    yield sse_message("ping", "{}")
                    continue
                if message == _CLOSE:
                    return
                yield message
        finally:
            self._clients.discard(queue)

    def close(self) -> None:
        """End every stream (on shutdown: the server would otherwise wait for them)."""
        self._closed = True
        for queue in list(self._clients):
            self._clients.discard(queue)
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(_CLOSE)
