"""The rules of rule version 1, as a purely functional core (issue 3, "The rules" and "Outputs").

No Kafka, HTTP, clock, randomness or I/O in here: the stream processor, the replay tool and the tests
all call these functions, which is how the live view and an auditor's replay cannot disagree.

* `derive(events)` is the reference: every group's state from the set of events.
* `Ledger` is the incremental form for the processor: `apply(event)` returns what changed, and after
  any sequence of events it equals `derive` over their set.
* `records` gives the processor's output on the `group-state` topic from the ledger's state; the
  records themselves (the states, their keys, the alerts) and `StateView`, which puts them back
  together for the dashboard and the replay tool, are the output contract, `services.contracts`
  (`group_state`, `group_state_records`, `alerts`); the names re-exported here are the same objects.
* `docs/rules.md` states the rules and the choices made, for coordinators and auditors.
"""

from services.contracts.alerts import Alert, AlertKind, AlertWithdrawal, alert_id
from services.contracts.group_state import (
    RULE_VERSION,
    CaseProvenance,
    CaseState,
    CaseStatus,
    GroupState,
    GroupStatus,
    GroupSummary,
    LinkRule,
    Presentation,
    ResolvedBy,
    SanctionLink,
    UnresolvedSanction,
    WarningEntry,
)
from services.sanctions.domain.alerts import (
    DEFAULT_RISK_DAYS,
    AlertChanges,
    StalledCase,
    diff_alerts,
    group_alerts,
    is_stalled,
    retaliation_alerts,
    risk_expired,
    stalled_alerts,
    stalled_cases,
)
from services.sanctions.domain.derive import Derived, derive, effective_facts
from services.sanctions.domain.facts import Fact, FactKey, as_fact
from services.sanctions.domain.ledger import Ledger, Update
from services.sanctions.domain.rules import DEFAULT_WINDOW_DAYS, days_between

__all__ = [
    "DEFAULT_RISK_DAYS",
    "DEFAULT_WINDOW_DAYS",
    "RULE_VERSION",
    "Alert",
    "AlertChanges",
    "AlertKind",
    "AlertWithdrawal",
    "CaseProvenance",
    "CaseState",
    "CaseStatus",
    "Derived",
    "Fact",
    "FactKey",
    "GroupState",
    "GroupStatus",
    "GroupSummary",
    "Ledger",
    "LinkRule",
    "Presentation",
    "ResolvedBy",
    "SanctionLink",
    "StalledCase",
    "UnresolvedSanction",
    "Update",
    "WarningEntry",
    "alert_id",
    "as_fact",
    "days_between",
    "derive",
    "diff_alerts",
    "effective_facts",
    "group_alerts",
    "is_stalled",
    "retaliation_alerts",
    "risk_expired",
    "stalled_alerts",
    "stalled_cases",
]
