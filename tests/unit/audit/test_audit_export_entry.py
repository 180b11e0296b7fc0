"""The access-log entry of an export (the contract the dashboard writes too), and what the chains cover."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.audit.checkpointer import CheckpointerSettings
from services.audit.cli.settings import AuditCliSettings
from services.audit.library.access import count_person_refs, export_entry
from services.audit.library.auditors import Auditor, Role
from services.audit.library.export import Pseudonymiser, event_rows
from services.contracts import canonical_json
from services.contracts.access import AccessEntry, Resource
from services.followthrough import Fact
from tests.unit.domain import builders as b

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _facts() -> list[Fact]:
    events = [b.membership("m1", "pol:p-1", "g1", 0, 100), b.membership("m2", "pol:p-2", "g1", 0, 100),
              b.sanction("s1", 5, person="pol:p-1"), b.sanction("s2", 6, group="g1"),
              b.registered("r1", "g1", "N")]
    return [Fact(e.source, e.id, e.type, e.time, e.data) for e in events]


@pytest.mark.parametrize("key", [None, b"k" * 32], ids=["as they are", "pseudonymised"])
def test_an_export_counts_its_distinct_person_references_as_they_are_or_pseudonymised(
        key: bytes | None) -> None:
    rows = list(event_rows(_facts(), Pseudonymiser(key)))
    assert count_person_refs(rows) == 2
    assert count_person_refs([{"data": {"a": [{"person_ref": "x"}, {"b": {"person_ref": "y"}}]}}]) == 2
    assert count_person_refs([]) == 0


@pytest.mark.parametrize("role", list(Role))
def test_the_export_entry_names_who_and_what_and_holds_no_personal_data(role: Role) -> None:
    entry = export_entry(Auditor("data-protection-officer", role), person_refs=2, time=NOW, access_id="a-1")
    assert (entry.user, entry.role, entry.resource, entry.resource_id, entry.via) == (
        "data-protection-officer", role.value, Resource.AUDIT_EXPORT, "all", "cli")
    assert entry.person_refs_shown is role.sees_personal_data and entry.person_refs == 2
    assert entry.key() == b"data-protection-officer"
    assert AccessEntry.model_validate_json(entry.to_json()) == entry
    assert set(entry.model_dump()) == {"access_id", "time", "user", "role", "resource", "resource_id",
                                       "person_refs_shown", "via", "person_refs"}


def test_a_dashboard_entry_is_byte_for_byte_what_it_was_before_the_count() -> None:
    entry = AccessEntry(access_id="a-2", time=NOW, user="analyst", role="analyst",
                        resource=Resource.GROUP_PEOPLE, resource_id="g1", person_refs_shown=True, via="api")
    assert entry.to_json() == canonical_json({
        "access_id": "a-2", "time": "2024-03-01T12:00:00Z", "user": "analyst", "role": "analyst",
        "resource": "group_people", "resource_id": "g1", "person_refs_shown": True, "via": "api"})
    with pytest.raises(ValidationError):
        AccessEntry.model_validate_json(entry.to_json()[:-1] + b',"person_refs":-1}')
    with pytest.raises(ValidationError):  # nothing else: a person reference has no place to go
        AccessEntry.model_validate_json(entry.to_json()[:-1] + b',"person_ref":"pol:p-1"}')


@pytest.mark.parametrize("settings", [AuditCliSettings, CheckpointerSettings])
def test_the_chains_cover_the_source_topics_and_the_access_log(settings: type[AuditCliSettings]) -> None:
    assert settings().chained_topics == ["incidents", "notifications", "sanctions", "access-log",
                                         "data-protection"]
    assert settings(GVI_AUDIT_SOURCE_TOPICS="a,b", GVI_AUDIT_ACCESS_LOG_TOPIC="log",
                    GVI_AUDIT_DATA_PROTECTION_TOPIC="dp").chained_topics == ["a", "b", "log", "dp"]
    assert settings(GVI_AUDIT_SOURCE_TOPICS="a,log", GVI_AUDIT_ACCESS_LOG_TOPIC="log").chained_topics == [
        "a", "log", "data-protection"]
    with pytest.raises(ValidationError):
        settings(GVI_AUDIT_ACCESS_LOG_TOPIC="")
