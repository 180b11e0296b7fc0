"""Every rule test runs against the reference `derive` and against the incremental `Ledger` fed in
the given order and in reverse, so a rule and its incremental form are checked together."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from services.contracts import CloudEvent
from services.sanctions.domain import Derived, Ledger, derive

Evaluate = Callable[..., Derived]


def _ledger(events: Sequence[CloudEvent], window_days: int = 365, reverse: bool = False) -> Derived:
    ledger = Ledger(window_days=window_days)
    ledger.apply_all(reversed(events) if reverse else events)
    return ledger.derived()


@pytest.fixture(params=["derive", "ledger", "ledger-reversed"])
def evaluate(request: pytest.FixtureRequest) -> Evaluate:
    """`evaluate(*events, window_days=365) -> Derived` by one of the three strategies."""

    def run(*events: CloudEvent, window_days: int = 365) -> Derived:
        if request.param == "derive":
            return derive(events, window_days=window_days)
        return _ledger(events, window_days, reverse=request.param == "ledger-reversed")

    return run
