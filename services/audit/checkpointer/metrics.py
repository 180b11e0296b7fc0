"""The checkpointer's Prometheus metrics, all defined here against an injected registry.

Labels carry only topic names: no record content, no person reference.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["CheckpointerMetrics"]


class CheckpointerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.checkpoints = Counter("gvi_audit_checkpoints_total", "Signed checkpoints published.", ["topic"],
                                   registry=registry)
        self.records = Counter("gvi_audit_records_chained_total",
                               "Committed source records added to the hash chains.", ["topic"],
                               registry=registry)
        self.last_checkpoint = Gauge("gvi_audit_last_checkpoint_timestamp_seconds",
                                     "Unix time of the last published checkpoint (0: none yet).",
                                     registry=registry)
        self.verification_ok = Gauge("gvi_audit_verification_ok",
                                     "1 if the last verification (run here, or recorded on the checkpoint "
                                     "topic) found the log intact, 0 if it found a problem, NaN before any.",
                                     registry=registry)
        self.verification_ok.set(float("nan"))  # unknown: neither a pass nor an alert
        self.verification_time = Gauge("gvi_audit_verification_timestamp_seconds",
                                       "Unix time of the last verification (0: none yet).", registry=registry)
