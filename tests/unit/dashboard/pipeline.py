"""Feeds accepted events to the dashboard's record applier as the system would: the source records
themselves, and what the processor publishes for them (the rules' own `Ledger` and `records_for`),
so the dashboard's read model is tested against the processor's real output format."""

from __future__ import annotations

from datetime import UTC, datetime

from services.contracts import CloudEvent, owner_of
from services.dashboard.readmodel.access import AccessLogView
from services.dashboard.readmodel.model import ReadModel
from services.dashboard.readmodel.records import Changes, RecordApplier
from services.followthrough import Ledger, records_for

__all__ = ["Pipeline"]


class Pipeline:
    def __init__(self, stall_days: int = 14, applier: RecordApplier | None = None) -> None:
        self.applier = applier or RecordApplier(ReadModel(stall_days=stall_days), AccessLogView())
        self.model = self.applier.model
        self.ledger = Ledger()

    def post(self, *events: CloudEvent, at: datetime | None = None) -> Changes:
        changes = Changes()
        for event in events:
            stamp = int((at or event.recordedtime or datetime.now(UTC)).timestamp() * 1000)
            service = owner_of(event.type)
            topic = service.topic if service is not None else "notifications"
            self.applier.apply(topic, None, event.to_json(), stamp, changes=changes)
            update = self.ledger.apply(event)
            for key, value in records_for(self.ledger, update):
                self.applier.apply("group-state", key, value, stamp, changes=changes)
            for alert in update.alerts.raised:
                self.applier.apply("alerts", alert.alert_id.encode(), alert.to_json(), stamp, changes=changes)
            for withdrawal in update.alerts.withdrawn:
                self.applier.apply("alerts", withdrawal.alert_id.encode(), withdrawal.to_json(), stamp,
                                   changes=changes)
        return changes
