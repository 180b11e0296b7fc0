"""Small-number suppression over a grid of additive relations: primary and secondary (a pure function;
docs/security.md, "The public statistics page", states the same rule).

A *relation* says that one cell, the parent, is the sum of others, its children: a year is the sum of
its months, an area's all-time total the sum of its years (and of its months), all areas the sum of
the areas. What a reader knows of a cell is an interval: a shown cell is its value; a `<t` cell
(*primary*) is 1 to t-1; a `..` cell (*secondary*) is at least t, since it is neither a zero (zeros are
shown) nor below the threshold (that would be `<t`). From one relation and what it shows of the other
cells, a reader can narrow a hidden cell's interval. The relation *exposes* a hidden cell when that
narrows it to a single value it did not already have: always when the relation has exactly one hidden
cell (it is the parent less the children shown, or their sum), and also, for instance, for a year
shown whose two hidden months `<3` must add up to 2 (both are 1).

The rule, for the cells of one measure:

1. *Primary*: a cell from 1 to t-1 is hidden. A zero is shown: it counts nobody.
2. *Secondary*: while a relation exposes a hidden cell, one more of its cells is hidden: the smallest
   nonzero child shown whose hiding ends the exposure (ties: the earlier cell in the grid's order);
   if no single child does, the parent if it is shown; otherwise the smallest nonzero child shown,
   and the relation is looked at again. Zeros are never hidden. Every relation is looked at again
   whenever one of its cells is hidden, until none exposes a cell or none has a cell left to hide.

A relation can be left exposing a cell only when every nonzero cell in it is hidden already, so
hiding more in it cannot help: a parent below the threshold whose hidden children must each be at
least 1 (with t=3, a `<3` with two `<3` children: each is 1).

What this does not audit: reasoning across several relations at once (adding or chaining them, or
narrowing an interval with one relation and using it in another). Each relation on its own gives
back no hidden cell; a reader combining them gets bounds, and in rare patterns could get more.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

__all__ = ["Mark", "Relation", "suppress"]

K = TypeVar("K", bound=Hashable)

Interval = tuple[float, float]


class Mark(Enum):
    PRIMARY = "primary"
    """From 1 to t-1 (shown `<t`)."""
    SECONDARY = "secondary"
    """Hidden so that no relation gives back a hidden cell (shown `..`); at least t."""


@dataclass(frozen=True, slots=True)
class Relation(Generic[K]):
    """`parent` is the sum of `children`."""

    parent: K
    children: tuple[K, ...]


def suppress(values: Mapping[K, int], relations: Sequence[Relation[K]], threshold: int) -> dict[K, Mark]:
    """The hidden cells and why; every other cell of `values` is shown. `values`' order is the
    grid's order (for ties); every cell a relation names must be in it."""
    if threshold < 2:
        raise ValueError("the suppression threshold must be at least 2")
    hidden = {key: Mark.PRIMARY for key, value in values.items() if 0 < value < threshold}
    order = {key: n for n, key in enumerate(values)}
    of_cell: dict[K, list[int]] = {}
    for n, relation in enumerate(relations):
        for key in (relation.parent, *relation.children):
            of_cell.setdefault(key, []).append(n)
    queue = deque(range(len(relations)))
    queued = set(queue)
    while queue:
        n = queue.popleft()
        queued.discard(n)
        check = _Check(relations[n], values, hidden, threshold)
        if not check.exposes():
            continue
        partner = check.partner(order)
        if partner is None:
            continue
        hidden[partner] = Mark.SECONDARY
        for m in of_cell[partner]:
            if m not in queued:
                queue.append(m)
                queued.add(m)
    return hidden


class _Check(Generic[K]):
    """One relation as a reader sees it: the parent's interval, the sum of the children shown, and
    the intervals of the hidden children."""

    def __init__(self, relation: Relation[K], values: Mapping[K, int], hidden: Mapping[K, Mark],
                 threshold: int) -> None:
        self.relation, self.values, self.threshold = relation, values, threshold
        self.hidden = hidden
        self.parent = self.interval(relation.parent)
        self.parent_hidden = relation.parent in hidden
        self.shown = sum(values[c] for c in relation.children if c not in hidden)
        self.children = [self.interval(c) for c in relation.children if c in hidden]

    def interval(self, key: K) -> Interval:
        mark = self.hidden.get(key)
        if mark is Mark.PRIMARY:
            return 1, self.threshold - 1
        if mark is Mark.SECONDARY:
            return self.threshold, math.inf
        return self.values[key], self.values[key]

    def exposes(self) -> bool:
        return _exposes(self.parent, self.parent_hidden, self.shown, self.children)

    def partner(self, order: Mapping[K, int]) -> K | None:
        """The cell to hide next, or None when every nonzero cell is hidden already."""
        shown = [c for c in self.relation.children if c not in self.hidden and self.values[c] > 0]
        candidates = sorted(shown, key=lambda c: (self.values[c], order[c]))
        secondary: Interval = (self.threshold, math.inf)
        for child in candidates:
            if not _exposes(self.parent, self.parent_hidden, self.shown - self.values[child],
                            [*self.children, secondary]):
                return child
        parent = self.relation.parent
        if parent not in self.hidden and self.values[parent] > 0:
            return parent
        return candidates[0] if candidates else None


def _exposes(parent: Interval, parent_hidden: bool, shown: int, children: list[Interval]) -> bool:
    """Whether `parent = shown + sum(children)`, with `children` the hidden ones' intervals, has
    exactly one hidden cell or narrows one to a single value it did not have already."""
    if len(children) + parent_hidden == 1:
        return True
    low = sum(c[0] for c in children)
    high = sum(c[1] for c in children)
    if parent_hidden and _narrowed(parent, (shown + low, shown + high)):
        return True
    for child in children:
        others = (low - child[0], high - child[1] if child[1] < math.inf else _sum_high(children, child))
        if _narrowed(child, (parent[0] - shown - others[1], parent[1] - shown - others[0])):
            return True
    return False


def _sum_high(children: list[Interval], left_out: Interval) -> float:
    rest = list(children)
    rest.remove(left_out)
    return sum(c[1] for c in rest)


def _narrowed(own: Interval, implied: Interval) -> bool:
    return own[0] < own[1] and max(own[0], implied[0]) >= min(own[1], implied[1])
