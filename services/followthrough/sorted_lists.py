"""Sorted lists with O(log n) search: the incremental ledger's only data structure beyond dicts.

`list.remove` compares element by element from the front; on a group's long history that would make
each removal linear in comparisons. `remove_sorted` finds the element by binary search instead, leaving
only the memmove of the tail, which is fast even for tens of thousands of entries.
"""

from __future__ import annotations

import bisect
from typing import Any

__all__ = ["insert_sorted", "remove_sorted"]

insert_sorted = bisect.insort


def remove_sorted(items: list[Any], item: Any) -> None:
    """Remove `item` from the sorted list `items`; ValueError if it is not there."""
    i = bisect.bisect_left(items, item)
    if i == len(items) or items[i] != item:
        raise ValueError(f"{item!r} is not in the list")
    del items[i]
