"""Sorted lists with O(log n) search: the incremental ledger's only data structure beyond dicts.

`list.remove` compares element by element from the front; on a group's long history that would make
each removal linear in comparisons. `remove_sorted` finds the element by binary search instead, leaving
only the memmove of the tail, which is fast even for tens of thousands of entries.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

__all__ = ["insert_sorted", "remove_sorted"]

insert_sorted = bisect.insort


def remove_sorted(items: list[Any], item: Any, key: Callable[[Any], Any] | None = None) -> None:
    """Remove `item` from the sorted list `items`; ValueError if it is not there. With `key`, `items`
    are sorted by it, and the element removed is the one whose key is `item`'s."""
    if key is None:
        i = bisect.bisect_left(items, item)
        found = i < len(items) and items[i] == item
    else:
        i = bisect.bisect_left(items, key(item), key=key)
        found = i < len(items) and key(items[i]) == key(item)
    if not found:
        raise ValueError(f"{item!r} is not in the list")
    del items[i]
