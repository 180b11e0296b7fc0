"""Whether the dashboard's feed still hears from the broker: a pure record of contacts, asked with
the time of the question.

aiokafka's fetch returns nothing both when nothing happened and when the broker is gone, so the feed
asks the broker for its end offsets every few seconds (`ReadModelFeed`) and reports each answer here.
The feed is **stale** once it has not heard from the broker for `stale_after` seconds: `/readyz`
answers 503, `gvi_dashboard_feed_stale` is 1, `gvi_dashboard_caught_up` 0, and every page says
"stale since HH:MM" until it hears again. A dashboard without a feed (tests with fakes) is never stale.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FeedFreshness"]


@dataclass
class FeedFreshness:
    stale_after: float = 15.0
    last_contact: float | None = None
    _since: float | None = None
    _reported_stale: bool = False

    def started(self, now: float) -> None:
        """The feed starts: staleness counts from now until its first contact."""
        if self._since is None:
            self._since = now

    def contact(self, now: float) -> None:
        self.last_contact = now

    def stale_since(self, now: float) -> float | None:
        """When the feed last heard from the broker (or started), if that is too long ago."""
        last = self.last_contact if self.last_contact is not None else self._since
        if last is None or now - last <= self.stale_after:
            return None
        return last

    def change(self, now: float) -> tuple[bool, float | None] | None:
        """(stale, since) when staleness changed since the last call that reported one, else None."""
        since = self.stale_since(now)
        stale = since is not None
        if stale == self._reported_stale:
            return None
        self._reported_stale = stale
        return stale, since
