"""Erasure and retention against the real broker: persons named through the real intakes, then
`gvi-privacy` (its `main`, in-process) erases one on request and the retention job shreds exactly
the persons past their deadline; the raw records of every topic never hold a clear reference, and a
freshly read key ring can no longer open an erased person's sealed values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from services.audit.library import LogReader
from services.contracts import DATA_PROTECTION_TOPIC, PERSON_KEYS_TOPIC, SOURCE_TOPIC_NAMES, Service
from services.contracts.envelope import read_event
from services.contracts.protection import Basis, PersonsErased, read_protection_record
from services.privacy.cli import main
from services.privacy.retention import RetentionPolicy, deadlines, due
from services.privacy.sealing import opened
from services.privacy.verify import audit_findings
from tests.examples import example_event
from tests.integration.test_intake_kafka import post, read_topic, records_of, running
from tests.privacy_support import dev_key_ring, person_only_sanction

POLICE, PROBATION = "/agencies/police", "/agencies/probation"
ALL_TOPICS = [*SOURCE_TOPIC_NAMES, PERSON_KEYS_TOPIC, DATA_PROTECTION_TOPIC]


@pytest.fixture
def bootstrap(own_kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("GVI_ENV", "development")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", own_kafka_bootstrap)
    for name in ("GVI_RETENTION_MEMBERSHIP_MONTHS", "GVI_RETENTION_PERSON_YEARS", "GVI_RETENTION_GRACE_DAYS"):
        monkeypatch.delenv(name, raising=False)
    return own_kafka_bootstrap


def membership(person: str, until: str, evidence: str = "Seen at the square", **kw: Any) -> dict[str, Any]:
    return example_event("gvi.membership.assessed.v1", source=POLICE, data_overrides={
        "person_ref": person, "evidence": evidence, "valid_from": "2025-01-01T00:00:00Z",
        "valid_until": until}, **kw)


def raw(record: Any) -> bytes:
    return (record.key or b"") + (record.value or b"") + b"".join(v for _, v in record.headers)


def protection_records(bootstrap: str) -> list[Any]:
    return [read_protection_record(r.value) for r in read_topic(bootstrap, DATA_PROTECTION_TOPIC)]


def dpo(*argv: str) -> list[str]:
    return [*argv, "--reason", "the data subject's written request", "--officer", "dpo-anna"]


def test_an_erased_person_is_named_nowhere_and_their_values_cannot_be_opened(bootstrap: str) -> None:
    erased, kept = "police:p-erase-me", "police:p-keep-me"
    first = membership(erased, "2026-06-30T00:00:00Z", evidence="Seen at the harbour twice")
    other = membership(kept, "2026-06-30T00:00:00Z", evidence="Seen at the station")
    sanction = person_only_sanction(erased)
    with (running(Service.NOTIFICATIONS, bootstrap) as notifications,
          running(Service.SANCTIONS, bootstrap) as sanctions):
        assert post(notifications, first, "dev-police-key").status_code == 202
        assert post(notifications, other, "dev-police-key").status_code == 202
        assert post(sanctions, sanction, "dev-prosecutor-key").status_code == 202
    pseudonym = dev_key_ring(bootstrap).key_for(erased).pseudonym  # type: ignore[union-attr]

    assert main(dpo("request", "open", "--case", "DP-7", "--kind", "erasure")) == 0
    assert main(dpo("erase", "--person-ref", erased, "--case", "DP-7")) == 0

    for topic in ALL_TOPICS:
        for record in read_topic(bootstrap, topic):
            assert erased.encode() not in raw(record) and b"the harbour" not in raw(record), topic
    fresh = dev_key_ring(bootstrap)
    assert fresh.key_for(erased) is None and fresh.data_key(pseudonym) is None
    [m] = records_of(bootstrap, Service.NOTIFICATIONS.topic, first["id"])
    [s] = records_of(bootstrap, Service.SANCTIONS.topic, sanction["id"])
    assert opened(json.loads(m.value), fresh.data_key) == {} == opened(json.loads(s.value), fresh.data_key)
    [o] = records_of(bootstrap, Service.NOTIFICATIONS.topic, other["id"])
    assert opened(json.loads(o.value), fresh.data_key)["/data"]["evidence"] == "Seen at the station"

    case = [r for r in protection_records(bootstrap) if getattr(r, "case_number", None) == "DP-7"]
    assert [r.action for r in case] == ["request_opened", "persons_erased", "request_closed"]
    assert pseudonym in case[1].pseudonyms and case[1].basis is Basis.REQUEST
    assert main(dpo("erase", "--person-ref", erased, "--case", "DP-7")) == 4  # again: nothing to erase
    assert len(protection_records(bootstrap)) == len(case)


def test_the_retention_job_shreds_exactly_the_persons_past_their_deadline(
        bootstrap: str, capsys: pytest.CaptureFixture[str]) -> None:
    retracted_late = membership("police:r-retracted", "2030-01-01T00:00:00Z")
    events = [(membership("police:r-old", "2025-06-30T00:00:00Z"), "dev-police-key"),
              (membership("police:r-renewed", "2025-06-30T00:00:00Z"), "dev-police-key"),
              (membership("police:r-renewed", "2027-06-30T00:00:00Z"), "dev-police-key"),
              (membership("police:r-retracted", "2025-03-01T00:00:00Z"), "dev-police-key"),
              (retracted_late, "dev-police-key"),
              (example_event("gvi.event.retracted.v1", source=POLICE, data_overrides={
                  "retracted_event_id": retracted_late["id"]}), "dev-police-key"),
              (example_event("gvi.warning.delivered.v1", source=PROBATION, time="2026-01-10T10:00:00Z",
                             data_overrides={"person_ref": "probation:r-warned"}), "dev-probation-key")]
    with running(Service.NOTIFICATIONS, bootstrap) as notifications:
        for event, key in events:
            assert post(notifications, event, key).status_code == 202
    now = datetime(2027, 1, 1, tzinfo=UTC)
    before = dev_key_ring(bootstrap)
    sealed = [read_event(r.value) for t in SOURCE_TOPIC_NAMES for r in read_topic(bootstrap, t)]
    expected = {p for p in due(deadlines(sealed, RetentionPolicy()), now) if before.claims_of([p])}
    named = {ref: before.key_for(ref).pseudonym  # type: ignore[union-attr]
             for ref in ("police:r-old", "police:r-renewed", "police:r-retracted", "probation:r-warned")}
    assert {named["police:r-old"], named["police:r-retracted"]} <= expected
    assert not {named["police:r-renewed"], named["probation:r-warned"]} & expected

    with LogReader(bootstrap) as reader:
        late = audit_findings(lambda t: reader.read_topics(t, missing_ok=True), SOURCE_TOPIC_NAMES,
                              data_protection_topic=DATA_PROTECTION_TOPIC, now=now)
    assert [f.kind for f in late] == ["retention_overdue"] and f"{len(expected)} person(s)" in late[0].detail

    assert main(["retention", "--now", "2027-01-01T00:00:00Z", "--dry-run"]) == 0
    assert main(["retention", "--now", "2027-01-01T00:00:00Z"]) == 0
    after = dev_key_ring(bootstrap)
    assert set(before.pseudonyms()) - set(after.pseudonyms()) == expected
    [record] = [r for r in protection_records(bootstrap)
                if isinstance(r, PersonsErased) and r.basis is Basis.RETENTION]
    assert record.persons == len(expected) and expected <= set(record.pseudonyms)
    assert main(["retention", "--now", "2027-01-01T00:00:00Z"]) == 0  # the same clock: nothing to do
    assert len([r for r in protection_records(bootstrap) if isinstance(r, PersonsErased)
                and r.basis is Basis.RETENTION]) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("0 person(s)")

    with LogReader(bootstrap) as reader:
        assert audit_findings(lambda t: reader.read_topics(t, missing_ok=True), SOURCE_TOPIC_NAMES,
                              data_protection_topic=DATA_PROTECTION_TOPIC, now=now) == []
    for topic in ALL_TOPICS:
        for record_ in read_topic(bootstrap, topic):
            assert b"r-old" not in raw(record_) and b"r-retracted" not in raw(record_), topic


def test_the_requests_report_and_a_correction_against_the_real_topics(
        bootstrap: str, capsys: pytest.CaptureFixture[str]) -> None:
    contested = membership("police:p-contested", "2026-06-30T00:00:00Z")
    corrected = membership("police:p-contested", "2026-03-31T00:00:00Z")
    retraction = example_event("gvi.event.retracted.v1", source=POLICE,
                               data_overrides={"retracted_event_id": contested["id"]})
    with running(Service.NOTIFICATIONS, bootstrap) as notifications:
        assert post(notifications, contested, "dev-police-key").status_code == 202
    assert main(dpo("request", "open", "--case", "DP-8", "--kind", "correction",
                    "--contested-event", f"{POLICE} {contested['id']}")) == 0
    linked = ["--linked-event", f"{POLICE} {retraction['id']}",
              "--linked-event", f"{POLICE} {corrected['id']}"]
    closing = dpo("request", "close", "--case", "DP-8", "--outcome", "corrected", *linked)
    assert main(closing) == 1  # neither is posted yet
    capsys.readouterr()
    assert main(["requests", "--format", "csv"]) == 0
    assert "DP-8,correction," in capsys.readouterr().out
    with running(Service.NOTIFICATIONS, bootstrap) as notifications:
        assert post(notifications, retraction, "dev-police-key").status_code == 202
        assert post(notifications, corrected, "dev-police-key").status_code == 202
    assert main(closing) == 0
    capsys.readouterr()
    assert main(["requests"]) == 0
    assert "DP-8" not in capsys.readouterr().out
    assert main(["requests", "--all"]) == 0
    assert "closed: corrected" in capsys.readouterr().out
