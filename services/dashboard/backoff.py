"""Exponential backoff of failed logins, per key: pure (the time is an argument) and bounded in memory.

A key (an address, a user name, or both) may fail `free` times; after that, the next attempt is due
`base * 2**(failures - free)` seconds after the last failure, at most `cap`. A key that has not failed
for `forget_after` seconds starts again from nothing, and so does a key that succeeds. At most
`max_keys` keys are remembered: when full, the one that failed longest ago is forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["FailureBackoff"]


class FailureBackoff:
    def __init__(self, *, free: int, base: float, cap: float, forget_after: float, max_keys: int) -> None:
        self._free, self._base, self._cap = free, base, cap
        self._forget_after = forget_after
        self._max_keys = max_keys
        self._failures: OrderedDict[Hashable, tuple[int, float]] = OrderedDict()

    def _current(self, key: Hashable, now: float) -> tuple[int, float] | None:
        found = self._failures.get(key)
        if found is not None and now - found[1] >= self._forget_after:
            del self._failures[key]
            return None
        return found

    def delay(self, key: Hashable, now: float) -> float:
        """The backoff the key's failures have earned so far (0 within its free failures)."""
        found = self._current(key, now)
        if found is None or found[0] < self._free:
            return 0.0
        return float(min(self._cap, self._base * 2 ** min(found[0] - self._free, 64)))

    def wait(self, key: Hashable, now: float) -> float:
        """Seconds until the key may try again (0: now)."""
        found = self._current(key, now)
        return 0.0 if found is None else max(0.0, found[1] + self.delay(key, now) - now)

    def failed(self, key: Hashable, now: float) -> None:
        found = self._current(key, now)
        self._failures[key] = ((found[0] if found else 0) + 1, now)
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)
