"""The output contract of the `alerts` topic: alert records, their ids and their keys.

An alert's id is a digest of its kind, group and incident, and its content is nothing but what the id
stands for (plus the rule version), so a processor restarted after a crash that raises an alert again
produces the same id with the same bytes: consumers can deduplicate on the id. A record's key is the
alert's id (UTF-8), so an alert and its withdrawal share a partition. When the alerts hold is the
rules' business (`services.followthrough.alerts`).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from services.contracts.group_state import RULE_VERSION, CanonicalRecord

__all__ = ["Alert", "AlertKind", "AlertWithdrawal", "alert_id", "alert_key"]


class AlertKind(StrEnum):
    ENFORCEMENT_TRIGGERED = "enforcement_triggered"
    UNWARNED_VIOLENCE = "unwarned_violence"
    RETALIATION_RISK = "retaliation_risk"
    FOLLOW_THROUGH_STALLED = "follow_through_stalled"
    NO_SHOW_ON_PROBATION = "no_show_on_probation"
    """A member on probation did not come to a call-in (rule 9): its `incident_id` is the call-in's id."""


def alert_id(kind: AlertKind, group_id: str, incident_id: str) -> str:
    """sha256 of `kind|group_id|incident_id` in hex: the same alert always has the same id."""
    return hashlib.sha256(f"{kind.value}|{group_id}|{incident_id}".encode()).hexdigest()


def alert_key(alert_id: str) -> bytes:
    """The key of an alert's records on the `alerts` topic (raised or withdrawn): its id, UTF-8."""
    return alert_id.encode()


class Alert(CanonicalRecord):
    """An alert that holds. Its fields are exactly those its id is made of, plus the rule version."""

    alert_id: str
    kind: AlertKind
    group_id: str
    incident_id: str
    rule_version: int = RULE_VERSION

    @classmethod
    def of(cls, kind: AlertKind, group_id: str, incident_id: str) -> Alert:
        return cls(alert_id=alert_id(kind, group_id, incident_id), kind=kind, group_id=group_id,
                   incident_id=incident_id)


class AlertWithdrawal(CanonicalRecord):
    """An alert raised earlier no longer holds (e.g. the incident was re-attributed)."""

    alert_id: str
    kind: AlertKind
    group_id: str
    incident_id: str
    withdrawn: bool = True
    rule_version: int = RULE_VERSION

    @classmethod
    def of(cls, alert: Alert) -> AlertWithdrawal:
        return cls(alert_id=alert.alert_id, kind=alert.kind, group_id=alert.group_id,
                   incident_id=alert.incident_id)
