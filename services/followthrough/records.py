"""The records the processor publishes on the `group-state` topic, from the ledger's state.

What the records are (keys, values) and how a consumer puts a group's state back together
(`StateView`) is the output contract, `services.contracts.group_state_records`; which partition a
record goes to is the processor's Kafka adapter's (`services.sanctions.processor.partitioning`).
"""

from __future__ import annotations

from services.contracts.group_state_records import (
    Record,
    baseline_key,
    case_key,
    group_key,
    record_with_group,
    unresolved_key,
    unwarned_key,
    unwarned_record,
)
from services.followthrough.ledger import Ledger, Update

__all__ = ["all_records", "records_for"]


def records_for(ledger: Ledger, update: Update) -> list[Record]:
    """The records that publish what `update` changed, from the ledger's current state: the same
    records for the same state, so re-publishing after a crash is harmless."""
    out: list[Record] = []
    for group_id in update.group_ids:
        summary = ledger.summary(group_id)
        out.append((group_key(group_id), None if summary is None else summary.to_json()))
    for group_id, incident_id in update.case_ids:
        case = ledger.case_state(group_id, incident_id)
        out.append((case_key(group_id, incident_id),
                    None if case is None else record_with_group(group_id, case)))
    for group_id, incident_id in update.unwarned_ids:
        time = ledger.unwarned_incident_time(group_id, incident_id)
        out.append((unwarned_key(group_id, incident_id),
                    None if time is None else unwarned_record(group_id, incident_id, time)))
    for group_id, source, sanction_id in update.baseline_ids:
        link = ledger.baseline_link(group_id, source, sanction_id)
        out.append((baseline_key(group_id, source, sanction_id),
                    None if link is None else record_with_group(group_id, link)))
    for (source, sanction_id), unresolved in update.unresolved.items():
        out.append((unresolved_key(source, sanction_id),
                    None if unresolved is None else unresolved.to_json()))
    return out


def all_records(ledger: Ledger) -> dict[bytes, bytes]:
    """Every record the ledger's current state stands for: what the compacted topic should hold
    (without tombstones). Costs the whole state: for reconciling after a restart, not per event."""
    out: dict[bytes, bytes] = {}
    for group_id in ledger.group_ids():
        summary, state = ledger.summary(group_id), ledger.group_state(group_id)
        if summary is None or state is None:
            continue
        out[group_key(group_id)] = summary.to_json()
        for case in state.cases:
            out[case_key(group_id, case.incident_id)] = record_with_group(group_id, case)
        for incident_id in state.unwarned_incident_ids:
            time = ledger.unwarned_incident_time(group_id, incident_id)
            assert time is not None
            out[unwarned_key(group_id, incident_id)] = unwarned_record(group_id, incident_id, time)
        for link in state.baseline_links:
            out[baseline_key(group_id, link.source, link.sanction_id)] = record_with_group(group_id, link)
    for (source, sanction_id), unresolved in ledger.unresolved.items():
        out[unresolved_key(source, sanction_id)] = unresolved.to_json()
    return out
