"""The worker's heap: the ledger is long-lived, so the cyclic garbage collector is kept off it."""

from __future__ import annotations

import gc

__all__ = ["keep_out_of_collections"]


def keep_out_of_collections() -> None:
    """What the ledger holds now lives as long as the worker: move it out of the cyclic collector's
    sight (`gc.freeze`, which costs nothing). Otherwise, with a history of a million events, the
    ledger is about ten million objects, and every full collection walks them all and stops the
    worker for seconds: its heartbeats to the publishers' group expire and its health endpoints do
    not answer. What the ledger lets go is still freed at once (by reference counting); only garbage
    in cycles made meanwhile is kept, and the rules make almost none (a few hundred objects per
    million events, measured)."""
    gc.freeze()
