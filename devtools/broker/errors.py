"""The one error of the broker launcher."""

from __future__ import annotations

__all__ = ["BrokerError"]


class BrokerError(RuntimeError):
    """The broker could not be fetched, started or stopped; the message says what to do about it."""
