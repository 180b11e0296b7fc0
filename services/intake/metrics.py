"""The intake's Prometheus metrics, all defined here against an injected registry.

Labels carry only bounded, non-personal values: the service, the event type (unknown types are
counted as `unknown`), a rejection reason code, the publish mode, an HTTP route template and status.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.contracts import EVENT_TYPES
from services.infra.http_metrics import HttpMetrics
from services.infra.memory import register_memory_metrics

__all__ = ["IntakeMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


def _type_label(raw: Any) -> str:
    event_type = raw.get("type") if isinstance(raw, dict) else None
    return event_type if isinstance(event_type, str) and event_type in EVENT_TYPES else "unknown"


class IntakeMetrics:
    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self._service = service
        self._accepted = Counter("gvi_intake_events_accepted_total",
                                 "Events durably published to Kafka.", ["service", "type"],
                                 registry=registry)
        self._duplicates = Counter("gvi_intake_events_duplicate_total",
                                   "Events re-sent with an id already accepted (answered with the "
                                   "original receipt, not published again).", ["service", "type"],
                                   registry=registry)
        self._rejected = Counter("gvi_intake_events_rejected_total",
                                 "Events refused, by reason.", ["service", "type", "reason"],
                                 registry=registry)
        self._publish = Histogram("gvi_intake_publish_seconds",
                                  "Time from handing records to Kafka to the acks=all acknowledgement.",
                                  ["service", "mode"], buckets=_LATENCY_BUCKETS, registry=registry)
        self._group = Histogram("gvi_intake_transaction_requests",
                                "Requests committed together in one Kafka transaction (group commit).",
                                ["service"], buckets=_GROUP_BUCKETS, registry=registry)
        self._accepted_by_type: dict[str, Counter] = {}
        self._publish_by_mode = {mode == "batch": self._publish.labels(service, mode)
                                 for mode in ("single", "batch")}
        self.broker_ready = Gauge("gvi_intake_broker_ready",
                                  "1 if the Kafka cluster answered the readiness probe (a fresh TCP "
                                  "connection and a metadata request) when /metrics was scraped, "
                                  "else 0.", ["service"], registry=registry)
        self.http = HttpMetrics(registry)
        register_memory_metrics(registry)  # what it loads grows with the event log

    def committed(self, requests: int, records: int) -> None:
        self._group.labels(self._service).observe(requests)  # once per transaction

    def broker_probed(self, reachable: bool) -> None:
        self.broker_ready.labels(self._service).set(1 if reachable else 0)

    def accepted(self, event_type: str) -> None:
        child = self._accepted_by_type.get(event_type)
        if child is None:  # labelled children are looked up once: `labels()` costs more than `inc()`
            child = self._accepted_by_type[event_type] = self._accepted.labels(self._service, event_type)
        child.inc()

    def duplicate(self, event_type: str) -> None:
        self._duplicates.labels(self._service, event_type).inc()

    def rejected(self, raw_events: Sequence[Any], reason: str) -> None:
        for raw in raw_events:
            self._rejected.labels(self._service, _type_label(raw), reason).inc()

    @contextmanager
    def time_publish(self, batch: bool) -> Iterator[None]:
        start = perf_counter()
        try:
            yield
        finally:
            self._publish_by_mode[batch].observe(perf_counter() - start)
