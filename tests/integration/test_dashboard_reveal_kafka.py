"""Sealed person data on the dashboard against the real broker: a membership posted through a real
intake reaches Kafka sealed; the dashboard, following `person-keys`, shows the analyst the clear
reference and evidence; once the person's key is shredded (`KafkaKeyStore.shred`) it shows them
erased, and neither the reference nor the evidence is in any answer."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.contracts import Service
from services.privacy.kafka_keys import KafkaKeyStore
from services.privacy.keys import KeyRing
from tests.examples import example_event
from tests.integration.test_dashboard_kafka import dashboard, token
from tests.integration.test_intake_kafka import post, records_of, running
from tests.privacy_support import dev_master_key


def _shred(bootstrap: str, pseudonym: str) -> int:
    async def shred() -> int:
        store = KafkaKeyStore(bootstrap, KeyRing(dev_master_key()), client_id="test-shredder")
        store.start()
        try:
            await asyncio.wait_for(store.caught_up.wait(), 20)
            return await store.shred([pseudonym])
        finally:
            await store.stop()
    return asyncio.run(shred())


def _until(check: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, what
        time.sleep(0.3)
    return found


def test_the_dashboard_reveals_a_sealed_person_and_shows_them_erased_once_shredded(
        kafka_bootstrap: str) -> None:
    group = f"grp-{uuid.uuid4().hex[:8]}"
    person, evidence = f"pol:{group}-p1", f"Seen with {group} at the square on two evenings"
    now = datetime.now(UTC)
    membership = example_event("gvi.membership.assessed.v1", source="/agencies/police", data_overrides={
        "person_ref": person, "group_id": group, "evidence": evidence,
        "valid_from": (now - timedelta(days=5)).isoformat(),
        "valid_until": (now + timedelta(days=60)).isoformat()})
    with running(Service.NOTIFICATIONS, kafka_bootstrap) as intake:
        assert post(intake, membership, "dev-police-key").status_code == 202
    [record] = records_of(kafka_bootstrap, Service.NOTIFICATIONS.topic, membership["id"])
    pseudonym = json.loads(record.value)["data"]["person_ref"]
    assert pseudonym.startswith("psn-") and person.encode() not in record.value

    with dashboard(kafka_bootstrap) as url:
        analyst, operator = token(url, "analyst"), token(url, "operator")
        api = f"{url}/api/group-audit/memberships?group={group}"

        def rows() -> list[dict[str, Any]]:
            return list(httpx.get(api, headers=analyst).json()["memberships"])

        [row] = _until(lambda: [r for r in rows() if r["person_ref"] == person], "never revealed")
        assert row["evidence"] == evidence and not row["erased"]
        counts = httpx.get(f"{url}/api/group-audit?group={group}", headers=operator)
        assert person not in counts.text and pseudonym not in counts.text and evidence not in counts.text

        assert _shred(kafka_bootstrap, pseudonym) == 1
        [row] = _until(lambda: [r for r in rows() if r["erased"]], "never erased")
        assert row["person_ref"] is None and row["evidence"] is None
        answer = httpx.get(api, headers=analyst)
        client = httpx.Client(base_url=url, headers=analyst)
        page = client.get(f"/group-audit?group={group}")
        assert page.status_code == 200 and "erased" in page.text
        for text in (answer.text, page.text):
            assert person not in text and evidence not in text and pseudonym not in text
        after = httpx.get(f"{url}/api/group-audit?group={group}", headers=operator).json()
        assert after["groups"] == counts.json()["groups"] == [
            {"group_id": group, "name": None, "current_members": 1, "expiring_within_window": 0}]
