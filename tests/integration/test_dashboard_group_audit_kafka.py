"""The group audit against the real broker: memberships and relations from the `notifications` topic
and the processor's unresolved-sanction records from `group-state` reach the analyst's view, and its
read lands in the `access-log` topic."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import httpx

from tests.integration.test_dashboard_kafka import Processor, dashboard, token
from tests.integration.test_intake_kafka import read_topic
from tests.unit.domain import builders as b


def test_the_group_audit_is_fed_from_the_topics_and_its_reads_are_logged(kafka_bootstrap: str) -> None:
    group = f"grp-{uuid.uuid4().hex[:8]}"
    person, lone = f"pol:{group}-p1", f"pol:{group}-lone"
    today = (datetime.now(UTC) - b.T0).days                 # the dashboard reads the real clock
    processor = Processor(kafka_bootstrap)
    try:
        processor.post(b.registered(f"{group}-reg", group, "Västra"),
                       b.membership(f"{group}-m1", person, group, today - 5, today + 10),
                       b.relation(f"{group}-rel", group, f"{group}-other", today - 1, "alliance"),
                       b.sanction(f"{group}-s1", today - 1, person=lone))
    finally:
        processor.producer.close()
    with dashboard(kafka_bootstrap) as url:
        analyst = token(url, "analyst")
        body = httpx.get(f"{url}/api/group-audit/memberships?group={group}", headers=analyst).json()
        assert [(m["person_ref"], m["event_id"]) for m in body["expiring"]] == [(person, f"{group}-m1")]
        assert [(r["relation"], r["event_id"]) for r in body["relations"]] == [("alliance", f"{group}-rel")]
        assert f"{group}-s1" in [u["sanction_id"] for u in body["unmatched_sanctions"]]
        operator = httpx.get(f"{url}/api/group-audit?group={group}", headers=token(url, "operator"))
        assert operator.status_code == 200 and person not in operator.text
    entries = [json.loads(r.value) for r in read_topic(kafka_bootstrap, "access-log")]
    assert [(e["user"], e["resource"], e["person_refs_shown"], e["via"]) for e in entries
            if e["resource_id"] == group] == [("analyst", "group_audit", True, "api")]
