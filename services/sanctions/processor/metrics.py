"""The processor's Prometheus metrics. Labels carry only topics, partitions, event types and rejection
reasons: nothing about people or groups."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Iterable, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from services.contracts import EVENT_TYPES
from services.infra.memory import register_memory_metrics
from services.sanctions.processor.health import Health

__all__ = ["ProcessorMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ProcessorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self._events = Counter("gvi_processor_events_total", "Source records processed, by topic and type.",
                               ["topic", "type"], registry=r)
        self._rejected = Counter("gvi_processor_rejected_total",
                                 "Source records skipped because they are not events.",
                                 ["topic", "reason"], registry=r)
        self._conflicting = Counter(
            "gvi_processor_conflicting_copies_total",
            "Source records whose (source, id) was read before with other content: an agency gave one "
            "id to two events, accepted by two intakes at once; only the copy recorded first counts.",
            ["topic", "type"], registry=r)
        self._latency = Histogram("gvi_processor_event_seconds",
                                  "From a source record's Kafka timestamp to its outputs being handed to "
                                  "the producer.", buckets=_LATENCY_BUCKETS, registry=r)
        self._lag = Gauge("gvi_processor_consumer_lag", "Committed source records not yet processed.",
                          ["topic", "partition"], registry=r)
        self.open_cases = Gauge("gvi_processor_open_cases", "Cases awaiting their first sanction.",
                                registry=r)
        self.stalled_cases = Gauge("gvi_processor_stalled_cases",
                                   "Cases awaiting their first sanction past the stall threshold.",
                                   registry=r)
        self.publishing = Gauge("gvi_processor_publishing_partitions",
                                "group-state partitions this worker publishes (its share of the lease).",
                                registry=r)
        self._ready = Gauge("gvi_processor_ready", "1 when /readyz says ready, else 0.", registry=r)
        self._unacknowledged = Gauge("gvi_processor_oldest_unacknowledged_output_seconds",
                                     "Age of the oldest output not yet acknowledged by the broker.",
                                     registry=r)
        self._uncommitted = Gauge("gvi_processor_oldest_uncommitted_record_seconds",
                                  "Age of the oldest handled source record whose offset is not committed.",
                                  registry=r)
        self._broker_silent = Gauge("gvi_processor_broker_silent_seconds",
                                    "Seconds since the broker last answered the worker.", registry=r)
        self._swiftness = Gauge("gvi_processor_swiftness_days",
                                "Days from incident to first sanction over the sanctioned cases.",
                                ["quantile"], registry=r)
        register_memory_metrics(r)  # the ledger grows with the whole history

    def processed(self, events: Iterable[tuple[str, str, float | None]]) -> None:
        """A batch of events handled: (topic, type, the source record's timestamp) each; the latency
        of each is up to now."""
        now = time.time()
        counts: Tally[tuple[str, str]] = Tally()
        observe = self._latency.observe
        for topic, event_type, record_timestamp in events:
            counts[(topic, event_type)] += 1
            if record_timestamp:
                observe(max(0.0, now - record_timestamp))
        for (topic, event_type), n in counts.items():
            self._events.labels(topic, event_type if event_type in EVENT_TYPES else "unknown").inc(n)

    def rejected(self, topic: str, reason: str) -> None:
        self._rejected.labels(topic, reason).inc()

    def conflicting_copy(self, topic: str, event_type: str) -> None:
        """A record of `topic` that repeats an earlier copy's (source, id) with other content
        (`Read.conflicting_copy`)."""
        self._conflicting.labels(topic, event_type if event_type in EVENT_TYPES else "unknown").inc()

    def lag(self, topic: str, partition: int, records: int) -> None:
        self._lag.labels(topic, str(partition)).set(records)

    def health(self, health: Health, now: float) -> None:
        readiness = health.readiness(now)
        self._ready.set(1 if readiness.ready else 0)
        self._unacknowledged.set(readiness.oldest_unacknowledged_s)
        self._uncommitted.set(readiness.oldest_uncommitted_s)
        if readiness.broker_silent_s is not None:
            self._broker_silent.set(readiness.broker_silent_s)

    def set_swiftness(self, quantiles: Mapping[str, float] | None) -> None:
        if quantiles is None:
            self._swiftness.clear()
            return
        for quantile, days in quantiles.items():
            self._swiftness.labels(quantile).set(days)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
