"""The auditors' pages over HTTP with the fakes: only auditors reach them, they show the last verification,
the checkpoints per partition and the problems found, and the access log; an unreadable audit trail is a
503 that still shows the access log. (Against the real broker and checkpointer:
tests/integration/test_dashboard_audit.py.)"""

from __future__ import annotations

import re

from services.audit.library.api import AuditSnapshot, PartitionCheckpoints
from services.audit.library.checkpoints import VerificationRecord
from services.audit.library.verify import Problem
from services.dashboard.ports import AuditTrailUnavailable
from tests.unit.dashboard.test_dashboard_http import Harness
from tests.unit.domain import builders as b

FAILED = AuditSnapshot(
    last_verification=VerificationRecord(time=b.at(69), ok=False, records=120, checkpoints=9,
                                         unverified_records=3, key_id="k-1f2e",
                                         problems=("diverges: incidents/1 offset 17: the chain differs",),
                                         signature="c2ln"),
    partitions=(PartitionCheckpoints("incidents", 0, 4, 61, 62, b.at(69), "ab" * 32, "k-1f2e"),
                PartitionCheckpoints("incidents", 1, 5, 57, 58, b.at(68), "cd" * 32, "k-1f2e")),
    problems=(Problem("bad_signature", "incidents", 1, 57,
                      "the signature does not verify under key k-1f2e"),),
    checkpoint_records=11)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_only_auditors_reach_the_audit_pages_and_their_api(dash: Harness) -> None:
    for path in ("/api/audit", "/api/audit/access-log"):
        assert dash.client.get(path).status_code == 401, path
    for role in ("operator", "analyst"):
        headers = dash.token(role)
        for path in ("/api/audit", "/api/audit/access-log"):
            answer = dash.client.get(path, headers=headers)
            assert answer.status_code == 403 and role in answer.json()["detail"], (role, path)
        dash.login(role)
        page = dash.client.get("/audit")
        assert page.status_code == 403 and "checkpoint" not in page.text.lower()
        assert 'href="/audit"' not in dash.client.get("/").text          # not even offered
        dash.client.cookies.clear()
    auditor = dash.token("auditor")
    assert dash.client.get("/api/audit", headers=auditor).status_code == 200
    assert dash.client.get("/api/audit/access-log", headers=auditor).status_code == 200
    dash.login("auditor")
    assert 'href="/audit"' in dash.client.get("/").text


def test_an_auditor_sees_a_failed_verification_the_checkpoints_and_a_bad_signature(dash: Harness) -> None:
    dash.audit.current = FAILED
    dash.login("auditor")
    page = dash.client.get("/audit")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert "Verification FAILED" in shown and "120 committed records" in shown
    assert "diverges: incidents/1 offset 17" in shown
    assert "bad signature incidents/1 offset 57" in shown
    rows = re.findall(r"<tr><th scope=\"row\">incidents</th>(.*?)</tr>", page.text, re.S)
    assert [re.findall(r'class="num">(\d+)<', r) for r in rows] == [["0", "4", "61", "62"],
                                                                   ["1", "5", "57", "58"]]

    document = dash.client.get("/api/audit", headers=dash.token("auditor")).json()
    assert document["last_verification"]["ok"] is False
    assert document["last_verification"]["problems"] == ["diverges: incidents/1 offset 17: the chain differs"]
    assert [(p["topic"], p["partition"], p["last_offset"], p["last_count"])
            for p in document["partitions"]] == [("incidents", 0, 61, 62), ("incidents", 1, 57, 58)]
    assert document["problems"][0]["kind"] == "bad_signature" and document["checkpoint_records"] == 11


def test_a_good_verification_and_no_verification_yet_read_as_such(dash: Harness) -> None:
    dash.login("auditor")
    assert "No signed verification result has been published yet." in text_of(dash.client.get("/audit").text)
    assert FAILED.last_verification is not None
    good = FAILED.last_verification.model_copy(update={"ok": True, "problems": ()})
    dash.audit.current = AuditSnapshot(good, FAILED.partitions, (), 10)
    shown = text_of(dash.client.get("/audit").text)
    assert "Verified: the log is intact" in shown and "FAILED" not in shown and "bad_signature" not in shown


def test_an_unreadable_audit_trail_is_a_503_that_still_shows_the_access_log(dash: Harness) -> None:
    dash.login("analyst")
    dash.client.get("/groups/norra")
    dash.pipe.applier.apply("access-log", None, dash.access.entries[-1].to_json(), 0)
    dash.client.cookies.clear()
    dash.audit.failure = AuditTrailUnavailable("the audit trail could not be read: no Kafka broker reachable")
    answer = dash.client.get("/api/audit", headers=dash.token("auditor"))
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert "no Kafka broker reachable" in answer.json()["detail"]
    dash.login("auditor")
    page = dash.client.get("/audit")
    assert page.status_code == 503 and "no Kafka broker reachable" in page.text
    assert "group with person references" in page.text and "analyst" in page.text   # the access log still


def test_the_access_log_can_be_narrowed_to_a_user_or_a_resource(dash: Harness) -> None:
    for role in ("operator", "analyst"):
        dash.client.get("/api/groups/norra", headers=dash.token(role))
    dash.client.get("/api/call-ins/ci-2/brief", headers=dash.token("analyst"))
    for entry in dash.access.entries:
        dash.pipe.applier.apply("access-log", None, entry.to_json(), 0)
    auditor = dash.token("auditor")
    everything = dash.client.get("/api/audit/access-log", headers=auditor).json()
    assert everything["total"] == 3
    assert [(e["user"], e["resource_id"]) for e in everything["entries"]] == [
        ("analyst", "ci-2"), ("analyst", "norra"), ("operator", "norra")]          # newest first
    mine = dash.client.get("/api/audit/access-log?user=analyst&resource_id=norra", headers=auditor).json()
    assert [(e["user"], e["resource"]) for e in mine["entries"]] == [("analyst", "group")]
    assert dash.client.get("/api/audit/access-log?limit=0", headers=auditor).status_code == 422
    dash.login("auditor")
    page = dash.client.get("/audit?user=operator")
    assert page.status_code == 200 and "1 / 3" in text_of(page.text)
