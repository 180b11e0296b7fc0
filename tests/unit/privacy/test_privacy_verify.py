"""The data-protection checks of `gvi-audit verify`: erased persons have no live claim, and no
retention deadline is overdue past the grace period; neither needs the master key."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from services.contracts.protection import Basis, PersonsErased
from services.privacy.claims import Claim, MasterKey
from services.privacy.retention import RetentionPolicy
from services.privacy.verify import claims_ring, erased_but_live, overdue, protection_findings
from tests.unit.privacy.test_privacy_retention import membership

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
MASTER = MasterKey(b"s" * 32)  # the intakes' key: verify never has it


class Record(NamedTuple):
    key: bytes | None
    value: bytes | None


def claim(ref: str) -> tuple[str, Record]:
    made, _ = Claim.new(MASTER, ref, NOW)
    return made.pseudonym, Record(made.pseudonym.encode(), made.to_json())


def erased(pseudonyms: Iterable[str], age: timedelta = timedelta(hours=1)) -> PersonsErased:
    found = tuple(pseudonyms)
    return PersonsErased(record_id="e-1", time=NOW - age, officer="dpo", basis=Basis.REQUEST,
                         case_number="DP-1", reason="granted", pseudonyms=found, persons=len(found))


def test_an_erased_pseudonym_with_a_live_claim_is_found_without_the_master_key() -> None:
    (p, claim_p), (q, claim_q) = claim("police:p"), claim("police:q")
    ring = claims_ring([claim_p, claim_q, Record(p.encode(), None)])
    assert erased_but_live([erased([p])], ring, NOW, topic="dp") == []
    [finding] = erased_but_live([erased([p, q])], ring, NOW, topic="dp")
    assert finding.kind == "not_erased" and q in finding.detail and p not in finding.detail
    assert erased_but_live([erased([q], age=timedelta(minutes=1))], ring, NOW, topic="dp") == []  # under way


def test_an_overdue_person_with_a_live_key_is_found_after_the_grace_period() -> None:
    (p, claim_p), (q, claim_q) = claim("police:p"), claim("police:q")
    ring = claims_ring([claim_p, claim_q, Record(q.encode(), None)])
    due_at = {p: NOW - timedelta(days=1), q: NOW - timedelta(days=30)}
    assert overdue(due_at, ring, NOW, timedelta(days=2)) == []  # p within grace, q shredded
    [finding] = overdue(due_at, ring, NOW, timedelta(hours=1))
    assert finding.kind == "retention_overdue" and finding.detail.startswith("1 person(s)")
    assert p in finding.detail


def test_protection_findings_reads_each_topic_through_the_given_reader() -> None:
    (p, claim_p) = claim("police:p")
    record = erased([p], age=timedelta(days=1))
    topics: dict[str, list[Any]] = {
        "person-keys": [claim_p], "dp": [Record(b"DP-1", record.to_json())],
        "src": [Record(b"g", membership(p, "2025-01-31T00:00:00Z").to_json())]}

    def read(names: list[str]) -> Iterable[list[Any]]:
        return [topics.get(name, []) for name in names]

    found = protection_findings(read, ["src"], data_protection_topic="dp", now=NOW, policy=RetentionPolicy(),
                                grace=timedelta(days=2))
    assert [f.kind for f in found] == ["not_erased", "retention_overdue"]
    topics["person-keys"].append(Record(p.encode(), None))
    assert protection_findings(read, ["src"], data_protection_topic="dp", now=NOW, policy=RetentionPolicy(),
                               grace=timedelta(days=2)) == []


def test_only_events_that_may_name_a_pseudonym_and_retractions_are_parsed_for_deadlines() -> None:
    from services.privacy.kafka_io import events_of
    from tests.unit.privacy.test_privacy_retention import event

    (p, _) = claim("police:p")
    sealed, clear = membership(p, "2025-01-31T00:00:00Z"), membership("police:p-old", "2025-01-31T00:00:00Z")
    retraction = event("gvi.event.retracted.v1", retracted_event_id=clear.id)
    records = [Record(b"g", e.to_json()) for e in (sealed, clear, retraction)] + [Record(b"x", b"not json")]
    assert [e.id for e in events_of(records, naming_persons=True)] == [sealed.id, retraction.id]
    assert [e.id for e in events_of(records)] == [sealed.id, clear.id, retraction.id]
