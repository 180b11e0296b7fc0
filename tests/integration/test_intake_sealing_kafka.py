"""Sealing against the real broker: what reaches the topics when agencies name persons, and how
the intakes agree on one pseudonym per person through the `person-keys` topic."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.contracts import PERSON_KEYS_TOPIC, Service
from services.intake.errors import BrokerUnavailable
from services.intake.kafka import KafkaPublisher
from services.intake.publishing import OutgoingRecord
from services.privacy.kafka_keys import KafkaKeyStore
from services.privacy.keys import KeyRing
from services.privacy.sealing import unsealed
from services.privacy.store import ClaimGate, ClaimLost
from tests.audit_support import create_topics
from tests.examples import example_event
from tests.integration.test_intake_kafka import post, read_topic, records_of, running
from tests.privacy_support import dev_key_ring, dev_master_key, person_only_sanction


def test_a_person_named_at_two_intakes_has_one_pseudonym_and_no_clear_reference_in_kafka(
        kafka_broker: Any) -> None:
    bootstrap = kafka_broker.bootstrap
    person, evidence = "police:p-sealed-1", "Seen at the group's meeting place on three evenings"
    membership = example_event("gvi.membership.assessed.v1", source="/agencies/police", data_overrides={
        "person_ref": person, "evidence": evidence})
    sanction = person_only_sanction(person)
    with (running(Service.NOTIFICATIONS, bootstrap) as notifications,
          running(Service.SANCTIONS, bootstrap) as sanctions):
        assert post(notifications, membership, "dev-police-key").status_code == 202
        assert post(sanctions, sanction, "dev-prosecutor-key").status_code == 202
    [m] = records_of(bootstrap, Service.NOTIFICATIONS.topic, membership["id"])
    [s] = records_of(bootstrap, Service.SANCTIONS.topic, sanction["id"])
    pseudonym = json.loads(m.value)["data"]["person_ref"]
    assert json.loads(s.value)["data"]["person_ref"] == pseudonym
    # keys, which tools show readily, carry the pseudonym's digest, never the reference's
    assert s.key.decode() == f"person:{hashlib.sha256(pseudonym.encode()).hexdigest()}"
    for topic in (*[svc.topic for svc in Service], PERSON_KEYS_TOPIC):
        for record in read_topic(bootstrap, topic):
            raw = (record.key or b"") + (record.value or b"") + b"".join(v for _, v in record.headers)
            assert person.encode() not in raw and b"three evenings" not in raw, topic

    ring = dev_key_ring(bootstrap)
    assert ring.reveal(pseudonym) == person
    clear = unsealed(json.loads(m.value), ring.data_key)
    assert (clear["data"]["person_ref"], clear["data"]["evidence"]) == (person, evidence)


def test_rival_claims_of_one_new_person_end_in_one_pseudonym(kafka_broker: Any) -> None:
    bootstrap = kafka_broker.bootstrap

    async def race() -> list[str]:
        stores = [KafkaKeyStore(bootstrap, KeyRing(dev_master_key()), client_id=f"test-intake-{i}")
                  for i in range(3)]
        for store in stores:
            store.start()
        try:
            await asyncio.gather(*(asyncio.wait_for(s.caught_up.wait(), 20) for s in stores))
            keys = await asyncio.gather(*(s.keys_for(["police:p-raced"]) for s in stores))
            return [k["police:p-raced"].pseudonym for k in keys]
        finally:
            for store in stores:
                await store.stop()

    pseudonyms = asyncio.run(race())
    assert len(set(pseudonyms)) == 1
    lookup = dev_master_key().lookup("police:p-raced")
    claims = [r for r in read_topic(bootstrap, PERSON_KEYS_TOPIC)
              if r.value is not None and json.loads(r.value)["lookup"] == lookup]
    tombstoned = {r.key for r in read_topic(bootstrap, PERSON_KEYS_TOPIC) if r.value is None}
    assert {c.key for c in claims} - tombstoned == {pseudonyms[0].encode()}  # the losers withdrew
    ring = dev_key_ring(bootstrap)
    key = ring.key_for("police:p-raced")
    assert key is not None and key.pseudonym == pseudonyms[0]


def test_a_transaction_whose_claim_gate_fails_is_aborted_and_the_next_one_commits(kafka_broker: Any) -> None:
    """The publisher commits only once the claims its records were sealed with passed; a failed
    gate aborts the transaction (nothing visible, ever: 503 with nothing in doubt), and the lane
    goes on: the next request commits and is readable at once (no open transaction holds it back)."""
    bootstrap = kafka_broker.bootstrap
    topic = f"gate-{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, [topic], 1)

    def record(name: str) -> OutgoingRecord:
        return OutgoingRecord(topic, "g1", json.dumps({"id": name}).encode())

    async def run() -> tuple[BaseException | None, list[Any]]:
        publisher = KafkaPublisher(bootstrap, timeout_seconds=5, client_id="test-gate", lanes=1)
        await publisher.start()
        try:
            async def lost() -> None:
                await asyncio.sleep(0.05)
                raise ClaimLost("another intake claimed the same new person a moment earlier; retry")

            refused: BaseException | None = None
            try:
                await publisher.publish([record("sealed-with-a-lost-claim")], atomic=False,
                                        gate=ClaimGate([asyncio.ensure_future(lost())]))
            except BrokerUnavailable as exc:
                refused = exc
            return refused, await publisher.publish([record("next")], atomic=False)
        finally:
            await publisher.close()

    refused, placed = asyncio.run(run())
    assert isinstance(refused, BrokerUnavailable) and refused.settled is None
    assert "claimed the same new person" in str(refused)
    assert [json.loads(r.value)["id"] for r in read_topic(bootstrap, topic)] == ["next"]
    assert placed[0].offset > 0  # the aborted transaction's record and marker came first, unseen


def test_two_intakes_naming_one_new_person_at_once_publish_it_under_one_pseudonym(kafka_broker: Any) -> None:
    bootstrap = kafka_broker.bootstrap
    person = f"police:p-{uuid.uuid4().hex[:8]}"
    events = [example_event("gvi.membership.assessed.v1", source="/agencies/police",
                            data_overrides={"person_ref": person, "group_id": f"g-{i}"}) for i in range(2)]
    with (running(Service.NOTIFICATIONS, bootstrap) as first,
          running(Service.NOTIFICATIONS, bootstrap) as second):
        def post_once(client: Any, event: dict[str, Any]) -> int:
            # the intake whose claim loses the race seals the event again with the winner's key
            return int(post(client, event, "dev-police-key").status_code)

        with ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(post_once, (first, second), events))
    assert statuses == [202, 202]
    pseudonyms = {json.loads(r.value)["data"]["person_ref"]
                  for e in events for r in records_of(bootstrap, Service.NOTIFICATIONS.topic, e["id"])}
    ring = dev_key_ring(bootstrap)
    key = ring.key_for(person)
    assert key is not None and pseudonyms == {key.pseudonym}
