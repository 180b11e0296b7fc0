"""Every rule test runs against the reference `derive`, against the incremental `Ledger` fed in
the given order and in reverse, and against the records the processor publishes as a consumer puts
them back together, so a rule, its incremental form and its output are checked together."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from services.contracts import CloudEvent
from services.contracts.group_state_records import StateView
from services.followthrough import Derived, Ledger, derive, records_for

Evaluate = Callable[..., Derived]


def _ledger(events: Sequence[CloudEvent], window_days: int = 365, reverse: bool = False) -> Derived:
    ledger = Ledger(window_days=window_days)
    ledger.apply_all(reversed(events) if reverse else events)
    return ledger.derived()


def _published(events: Sequence[CloudEvent], window_days: int = 365) -> Derived:
    ledger = Ledger(window_days=window_days)
    view = StateView()
    for event in events:
        view.apply_all(records_for(ledger, ledger.apply(event)))
    return Derived(view.groups(), view.unresolved(), dict(sorted(ledger.alerts.items())))


@pytest.fixture(params=["derive", "ledger", "ledger-reversed", "published"])
def evaluate(request: pytest.FixtureRequest) -> Evaluate:
    """`evaluate(*events, window_days=365) -> Derived` by one of the three strategies."""

    def run(*events: CloudEvent, window_days: int = 365) -> Derived:
        if request.param == "derive":
            return derive(events, window_days=window_days)
        if request.param == "published":
            return _published(events, window_days)
        return _ledger(events, window_days, reverse=request.param == "ledger-reversed")

    return run
