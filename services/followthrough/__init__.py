"""The rules of the follow-through strategy, rule version 1, as a purely functional core (issue 3,
"The rules"; issue 19, step 2: a room of their own, beside the contracts).

No Kafka, HTTP, clock, randomness or I/O in here, and no import but `services.contracts`: the
stream processor, the replay tool, the dashboard and the tests all call these functions, which is
how the live view and an auditor's replay cannot disagree. Callers import the names of `__all__`
from this package, never a module of it.

* `derive(events)` is the reference evaluator: every group's state from the set of events
  (`group_states`: the same states one at a time).
* `Ledger` is the incremental evaluator for the processor: `apply(event)` returns what changed
  (`Update`), and after any sequence of events it equals `derive` over their set.
* `records_for` / `all_records` give the processor's output on the `group-state` topic from the
  ledger's state. The records themselves (the states, their keys, the alerts) and `StateView` are the
  output contract: take them from `services.contracts` (`group_state`, `group_state_records`,
  `alerts`), not from here.
* The single rules that other readers share: which copy of an event counts and what a retraction
  retracts (`preferred`, `retraction_target`), the current attribution of an incident
  (`current_incident`), whether an incident is a case and which warning it gets (`case_warning`),
  relations, memberships, call-ins and probation (rule 9).
* `docs/rules.md` states the rules and the choices made, for coordinators and auditors.
"""

from services.followthrough.alerts import (
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
from services.followthrough.derive import (
    Derived,
    derive,
    effective_facts,
    expired_risks,
    group_states,
    violence,
)
from services.followthrough.facts import Fact, FactKey, as_fact, preferred, retraction_target
from services.followthrough.ledger import Ledger, Update
from services.followthrough.probation import (
    PROBATION_DAYS,
    attendance_of,
    on_probation_since,
    probation_person,
)
from services.followthrough.records import all_records, records_for
from services.followthrough.rules import (
    DEFAULT_WINDOW_DAYS,
    Incident,
    case_warning,
    current_incident,
    days_between,
    invited_groups,
    latest,
    left_group_of,
    membership_counts_at,
    membership_valid_at,
    relation_holding,
)

__all__ = [
    "DEFAULT_RISK_DAYS",
    "DEFAULT_WINDOW_DAYS",
    "PROBATION_DAYS",
    "AlertChanges",
    "Derived",
    "Fact",
    "FactKey",
    "Incident",
    "Ledger",
    "StalledCase",
    "Update",
    "all_records",
    "as_fact",
    "attendance_of",
    "case_warning",
    "current_incident",
    "days_between",
    "derive",
    "diff_alerts",
    "effective_facts",
    "expired_risks",
    "group_alerts",
    "group_states",
    "invited_groups",
    "is_stalled",
    "latest",
    "left_group_of",
    "membership_counts_at",
    "membership_valid_at",
    "on_probation_since",
    "preferred",
    "probation_person",
    "records_for",
    "relation_holding",
    "retaliation_alerts",
    "retraction_target",
    "risk_expired",
    "stalled_alerts",
    "stalled_cases",
    "violence",
]
