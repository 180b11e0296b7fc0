"""The dashboard's Prometheus metrics, all defined here against an injected registry.

Labels carry only bounded, non-personal values: topic, resource kind, outcome, reason, route template,
method and status. User names and client addresses are never labels.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.infra.http_metrics import HttpMetrics
from services.infra.memory import register_memory_metrics

__all__ = ["DashboardMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
SERVICE = "dashboard"


class DashboardMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.records = Counter("gvi_dashboard_records_total", "Kafka records applied to the read model.",
                               ["topic"], registry=registry)
        self.skipped = Counter("gvi_dashboard_records_skipped_total",
                               "Kafka records that could not be decoded and were skipped.", ["topic"],
                               registry=registry)
        self.change_seconds = Histogram(
            "gvi_dashboard_change_seconds",
            "From a record's Kafka timestamp to its change being handed to the live streams.",
            buckets=_LATENCY_BUCKETS, registry=registry)
        self.caught_up = Gauge("gvi_dashboard_caught_up",
                               "1 once the read model holds everything that was in the topics at start, "
                               "and while its feed hears from the broker.", registry=registry)
        self.feed_stale = Gauge("gvi_dashboard_feed_stale",
                                "1 while the broker has not answered the feed for GVI_DASHBOARD_STALE_AFTER_"
                                "SECONDS.", registry=registry)
        self.feed_last_contact = Gauge("gvi_dashboard_feed_last_contact_timestamp_seconds",
                                       "When the broker last answered the feed (Unix time).",
                                       registry=registry)
        self.sse_clients = Gauge("gvi_dashboard_sse_clients", "Open server-sent event streams.",
                                 registry=registry)
        self.sse_dropped = Counter("gvi_dashboard_sse_dropped_total",
                                   "Streams closed because the client did not keep up.", registry=registry)
        self.access_log = Counter("gvi_dashboard_access_log_total",
                                  "Reads of group details, person-level data and briefs, by outcome of "
                                  "writing their access-log record.", ["resource", "outcome"],
                                  registry=registry)
        self.logins = Counter("gvi_dashboard_logins_total",
                              "Password checks (web login and /api/token), by outcome: success, failure.",
                              ["outcome"], registry=registry)
        self.login_failures = Counter(
            "gvi_dashboard_login_failures_total",
            "Login attempts that gave no session or token, by reason: bad_credentials (wrong password or "
            "unknown user, told apart nowhere), rate_limited (429), busy (503).", ["reason"],
            registry=registry)
        self.http = HttpMetrics(registry)
        register_memory_metrics(registry)  # what it loads grows with the event log
        self.groups = Gauge("gvi_dashboard_groups", "Groups with a state in the read model.",
                            registry=registry)
        self.active_alerts = Gauge("gvi_dashboard_active_alerts", "Alerts raised and not withdrawn.",
                                   registry=registry)

    def watch_feed(self, *, stale: Callable[[], bool], last_contact: Callable[[], float | None]) -> None:
        """Gauges of the feed's freshness, read when scraped."""
        self.feed_stale.set_function(lambda: float(stale()))
        self.feed_last_contact.set_function(lambda: last_contact() or 0.0)

    def watch_caught_up(self, *, caught_up: Callable[[], bool], stale: Callable[[], bool]) -> None:
        self.caught_up.set_function(lambda: float(caught_up() and not stale()))

    def watch(self, *, clients: Callable[[], int], groups: Callable[[], int],
              alerts: Callable[[], int]) -> None:
        """Gauges read when scraped."""
        self.sse_clients.set_function(lambda: float(clients()))
        self.groups.set_function(lambda: float(groups()))
        self.active_alerts.set_function(lambda: float(alerts()))
