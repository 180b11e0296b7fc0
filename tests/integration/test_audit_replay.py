"""`gvi-audit replay`, `explain` and `export` against the real broker, on dedicated source topics.

The scenario: group g1 is warned on day 1; incident i1 (day 10) is first attributed to g2 and only on
day 30 re-attributed to g1; incident i2 (day 14, suspecting g1) is retracted on day 40. Records are
produced directly with the `recordedtime` the intake would have stamped on those days.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from services.audit import cli
from services.contracts import CloudEvent, owner_of, partition_key
from services.contracts.group_state_records import states_document
from services.followthrough import Ledger, derive
from tests.audit_support import GVI_AUDIT, create_topics
from tests.unit.domain import builders as b
from tests.unit.domain.builders import at

POLICE = "/agencies/police"


def scenario() -> list[CloudEvent]:
    return [
        b.registered("r1", "g1", "Norra", day=0),
        b.warning("w1", "g1", 1),
        b.incident("rep1", "i1", 10, ["g2"]),
        b.sanction("s1", 12, group="g1", incident="i1"),
        b.incident("rep2", "i2", 14, ["g1"]),
        b.sanction("s2", 15, group="g1"),
        b.membership("m1", "pol:p-1", "g1", 0, 100, day=2),
        b.sanction("s3", 16, person="pol:p-1", kind="detention"),
        b.attribution("att1", "i1", 30, ["g1"]),
        b.retraction("x1", "rep2", 40),
        b.retraction("x1", "rep2", 40),  # a duplicate copy: counts once
    ]


@pytest.fixture(scope="module")
def log(kafka_bootstrap: str) -> dict[str, Any]:
    """The scenario on fresh topics; returns their names and where each event landed."""
    uid = uuid.uuid4().hex[:8]
    topics = {s: f"{s}-{uid}" for s in ("incidents", "notifications", "sanctions")}
    create_topics(kafka_bootstrap, list(topics.values()), 3)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    keys: dict[str, str] = {}
    placed: dict[str, tuple[str, int, int]] = {}
    events = scenario()
    for event in events:
        if event.type == "gvi.event.retracted.v1":
            target = event.data.retracted_event_id  # type: ignore[union-attr]
            key, service = keys[target], owner_of(next(e for e in events if e.id == target).type)
        else:
            key, service = partition_key(event), owner_of(event.type)
        keys[event.id] = key
        assert service is not None
        meta = producer.send(topics[service.value], key=key.encode(), value=event.to_json()).get(10)
        placed[event.id] = (meta.topic, meta.partition, meta.offset)
    producer.close()
    return {"bootstrap": kafka_bootstrap, "topics": topics, "placed": placed, "events": events}


def run_cli(log: dict[str, Any], *args: str,
            key: str = "dev-auditor-key") -> subprocess.CompletedProcess[bytes]:
    env = {"PATH": "/usr/bin:/bin", "GVI_ENV": "development", "GVI_AUDITOR_KEY": key,
           "PYTHONPATH": str(Path(__file__).resolve().parents[2]),  # this checkout's code
           "KAFKA_BOOTSTRAP_SERVERS": log["bootstrap"],
           "GVI_AUDIT_SOURCE_TOPICS": ",".join(log["topics"].values())}
    return subprocess.run([*GVI_AUDIT, "--no-progress", *args], env=env, capture_output=True, timeout=120)


def document(events: Sequence[CloudEvent]) -> bytes:
    return states_document(derive(events).groups)


def groups_of(output: bytes) -> dict[str, Any]:
    return {g["group_id"]: g for g in map(json.loads, output.splitlines())}


def test_replay_without_options_equals_the_rules_over_every_event(log: dict[str, Any]) -> None:
    answer = run_cli(log, "replay")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == document(log["events"])
    ledger = Ledger()
    ledger.apply_all(log["events"])
    assert answer.stdout == states_document(ledger.derived().groups)
    [g1] = groups_of(answer.stdout).values()  # g2 lost its only incident to the re-attribution
    assert [c["incident_id"] for c in g1["cases"]] == ["i1"]
    assert g1["cases"][0]["sanction_ids"] == ["s1", "s2", "s3"]
    assert b"replayed" in answer.stderr and b"groups" in answer.stderr


@pytest.mark.parametrize("readers", ["1", "2", "9"])
def test_replay_reads_the_same_in_one_or_several_reader_processes(log: dict[str, Any], readers: str) -> None:
    answer = run_cli(log, "replay", "--readers", readers)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == document(log["events"])
    assert f"of {len(log['events'])} records".encode() in answer.stderr


def test_replay_counts_an_event_copied_into_several_partitions_once(kafka_bootstrap: str) -> None:
    uid = uuid.uuid4().hex[:8]
    topics = {s: f"{s}-{uid}" for s in ("incidents", "notifications", "sanctions")}
    create_topics(kafka_bootstrap, list(topics.values()), 3)
    events = scenario()[:6]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for event in events:
        service = owner_of(event.type)
        assert service is not None
        producer.send(topics[service.value], key=partition_key(event).encode(), value=event.to_json()).get(10)
    copy = events[-1]  # s2, copied by hand into every partition of its topic: not how the intake keys it
    for partition in range(3):
        producer.send(topics["sanctions"], key=b"elsewhere", value=copy.to_json(),
                      partition=partition).get(10)
    producer.close()
    log = {"bootstrap": kafka_bootstrap, "topics": topics}
    answer = run_cli(log, "replay", "--readers", "3")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout == document(events)


def test_readers_must_be_a_positive_number(log: dict[str, Any]) -> None:
    answer = run_cli(log, "replay", "--readers", "0")
    assert answer.returncode == 2
    assert b"'0' is not a whole number of at least 1" in answer.stderr


def test_known_at_shows_what_was_known_before_the_late_attribution_and_retraction(log: dict[str, Any],
                                                                                  tmp_path: Path) -> None:
    out = tmp_path / "day20.jsonl"
    answer = run_cli(log, "replay", "--known-at", "2024-01-21T00:00:00Z", "--out", str(out))
    assert answer.returncode == 0, answer.stderr
    known = [e for e in log["events"] if e.recordedtime is not None and e.recordedtime <= at(20)]
    assert out.read_bytes() == document(known)
    groups = groups_of(out.read_bytes())
    assert groups["g2"]["unwarned_incident_ids"] == ["i1"]  # still g2's then
    assert [c["incident_id"] for c in groups["g1"]["cases"]] == ["i2"]  # not yet retracted
    assert groups["g1"]["baseline_sanction_ids"] == ["s1"]  # named i1, not g1's case yet


def test_as_of_uses_what_happened_by_then_as_known_now(log: dict[str, Any]) -> None:
    answer = run_cli(log, "replay", "--as-of", "2024-01-21")  # a date: the end of that day
    assert answer.returncode == 0, answer.stderr
    groups = groups_of(answer.stdout)
    # The review of day 30 had not happened yet; the retraction (known now) removes i2 whatever its time.
    assert groups["g2"]["unwarned_incident_ids"] == ["i1"]
    assert groups["g1"]["cases"] == []
    assert groups["g1"]["baseline_sanction_ids"] == ["s1", "s2", "s3"]
    both = run_cli(log, "replay", "--as-of", "2024-01-21", "--known-at", "2024-02-05T00:00:00Z")
    g1 = groups_of(both.stdout)["g1"]  # by day 35 the retraction of day 40 was not known
    assert [c["incident_id"] for c in g1["cases"]] == ["i2"]


def test_explain_names_the_input_events_of_a_case_with_their_log_positions(
        log: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GVI_ENV", "development")
    monkeypatch.setenv("GVI_AUDITOR_KEY", "dev-auditor-key")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", log["bootstrap"])
    monkeypatch.setenv("GVI_AUDIT_SOURCE_TOPICS", ",".join(log["topics"].values()))
    assert cli.main(["--no-progress", "explain", "g1", "--case", "i1", "--json"]) == 0
    explanation = json.loads(capsys.readouterr().out)
    inputs = {(i["role"], i["id"]): i for i in _walk(explanation["items"])}
    assert set(inputs) == {("report", "rep1"), ("attribution", "att1"), ("warning", "w1"),
                           ("sanction", "s1"), ("sanction", "s2"), ("sanction", "s3"), ("membership", "m1")}
    for (_, event_id), item in inputs.items():
        assert (item["topic"], item["partition"], item["offset"]) == log["placed"][event_id]
        assert item["agency"] in ("police", "probation") and item["recordedtime"]
    [case] = explanation["items"]
    assert any("rule 5: the sanction names this incident" in r for r in case["parts"][0]["rules"])
    assert cli.main(["--no-progress", "explain", "g1"]) == 0
    text = capsys.readouterr().out
    assert "att1" in text and f"{log['topics']['incidents']}/" in text


def _walk(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        out.extend(item["inputs"])
        out.extend(_walk(item["parts"]))
    return out


def test_explain_and_bad_keys_fail_with_one_clear_line(log: dict[str, Any]) -> None:
    unknown = run_cli(log, "explain", "no-such-group")
    assert unknown.returncode == 2 and unknown.stderr.strip().splitlines() == [
        b"gvi-audit: error: unknown group 'no-such-group': no event in the log gives it a state"]
    wrong = run_cli(log, "replay", key="not-a-key")
    assert wrong.returncode == 2 and b"not in the auditors file" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1


def test_export_pseudonymises_person_references_unless_the_role_allows_them(log: dict[str, Any]) -> None:
    plain = run_cli(log, "export", "--format", "jsonl")
    assert plain.returncode == 0, plain.stderr
    assert b"pol:p-1" not in plain.stdout and b"psn:" in plain.stdout
    rows = [json.loads(line) for line in plain.stdout.splitlines()]
    assert {r["kind"] for r in rows} == {"event", "group_state"}
    assert len([r for r in rows if r["kind"] == "event"]) == len(log["events"])
    personal = run_cli(log, "export", "--format", "csv", key="dev-dpo-key")
    assert personal.returncode == 0, personal.stderr
    table = list(csv.DictReader(io.StringIO(personal.stdout.decode())))
    assert any("pol:p-1" in row["data"] for row in table)
    assert {row["kind"] for row in table} == {"event", "group_state"}
    assert b"logged as access" in plain.stderr and b"logged as access" in personal.stderr
