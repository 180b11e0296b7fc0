"""The auditors' view of the audit trail: `services.audit.library.AuditView` behind the dashboard's
`AuditTrail` port.

`AuditView.snapshot` reads the whole `audit-checkpoints` topic through `LogReader` (blocking), so it
runs in a worker thread, one read at a time, and its answer is kept for `GVI_AUDIT_CACHE_SECONDS`: a
room full of auditors costs one read. Every signature is checked against the auditors' public keys
(`GVI_AUDIT_PUBLIC_KEYS_FILE`), which are read when first needed: in development the checkpointer
generates its key after the dashboard may have started.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from services.audit.library import (
    AuditError,
    AuditSnapshot,
    AuditView,
    BrokerUnreachable,
    chained_topics,
    load_public_keys,
)
from services.contracts import ACCESS_LOG_TOPIC, DATA_PROTECTION_TOPIC
from services.dashboard.ports import AuditTrailUnavailable
from services.dashboard.settings import DashboardSettings

__all__ = ["KafkaAuditTrail", "snapshot_document"]


class KafkaAuditTrail:
    def __init__(self, settings: DashboardSettings) -> None:
        self._settings = settings
        self._view: AuditView | None = None
        self._keys_path: Path | None = None
        self._lock = asyncio.Lock()
        self._cached: tuple[float, AuditSnapshot] | None = None

    def _audit_view(self) -> AuditView:
        path = self._settings.audit_keys_path()
        if path is None:
            raise AuditTrailUnavailable(
                "the auditors' public keys are not configured (GVI_AUDIT_PUBLIC_KEYS_FILE), so no "
                "checkpoint or verification result can be checked; the access log is shown")
        if self._view is None or path != self._keys_path:
            try:
                keys = load_public_keys(path)
            except AuditError as exc:
                raise AuditTrailUnavailable(str(exc)) from exc
            self._view = AuditView(self._settings.kafka_bootstrap_servers, keys,
                                   checkpoint_topic=self._settings.audit_checkpoint_topic,
                                   topics=chained_topics(self._settings.audit_topics, ACCESS_LOG_TOPIC,
                                                         DATA_PROTECTION_TOPIC),
                                   timeout_s=self._settings.audit_timeout_seconds,
                                   security=self._settings.kafka_security())
            self._keys_path = path
        return self._view

    async def snapshot(self) -> AuditSnapshot:
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < self._settings.audit_cache_seconds:
                return self._cached[1]
            view = self._audit_view()
            try:
                found = await asyncio.to_thread(view.snapshot)
            except BrokerUnreachable as exc:
                raise AuditTrailUnavailable(f"the audit trail could not be read: {exc}; retry later") from exc
            except AuditError as exc:
                raise AuditTrailUnavailable(f"the audit trail could not be read: {exc}") from exc
            self._cached = (time.monotonic(), found)
            return found


def snapshot_document(snapshot: AuditSnapshot) -> dict[str, Any]:
    """The snapshot as JSON for scripts (`GET /api/audit`): every field the page shows."""
    last = snapshot.last_verification
    return {
        "last_verification": None if last is None else {
            "time": last.time.isoformat(), "ok": last.ok, "records": last.records,
            "checkpoints": last.checkpoints, "unverified_records": last.unverified_records,
            "problems": list(last.problems), "key_id": last.key_id},
        "partitions": [{"topic": p.topic, "partition": p.partition, "checkpoints": p.checkpoints,
                        "last_offset": p.last_offset, "last_count": p.last_count,
                        "last_time": p.last_time.isoformat(), "last_chain": p.last_chain,
                        "key_id": p.key_id} for p in snapshot.partitions],
        "problems": [{"kind": p.kind, "topic": p.topic, "partition": p.partition, "offset": p.offset,
                      "detail": p.detail} for p in snapshot.problems],
        "checkpoint_records": snapshot.checkpoint_records,
    }
