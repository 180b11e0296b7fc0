"""Sealing against the real broker: what reaches the topics when agencies name persons, and how
the intakes agree on one pseudonym per person through the `person-keys` topic."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from services.contracts import PERSON_KEYS_TOPIC, Service
from services.privacy.kafka_keys import KafkaKeyStore
from services.privacy.keys import DEV_MASTER_KEY_FILE, KeyRing, MasterKey
from services.privacy.sealing import unsealed
from tests.examples import example_event
from tests.integration.test_intake_kafka import post, read_topic, records_of, running
from tests.privacy_support import dev_key_ring


def master() -> MasterKey:
    return MasterKey.from_file(DEV_MASTER_KEY_FILE, development=True)


def test_a_person_named_at_two_intakes_has_one_pseudonym_and_no_clear_reference_in_kafka(
        kafka_broker: Any) -> None:
    bootstrap = kafka_broker.bootstrap
    person, evidence = "police:p-sealed-1", "Seen at the group's meeting place on three evenings"
    membership = example_event("gvi.membership.assessed.v1", source="/agencies/police", data_overrides={
        "person_ref": person, "evidence": evidence})
    sanction = example_event("gvi.sanction.recorded.v1", source="/agencies/prosecutor", data_overrides={
        "kind": "prosecution", "person_ref": person, "group_id": None})
    sanction["data"].pop("group_id", None)
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
        stores = [KafkaKeyStore(bootstrap, KeyRing(master()), client_id=f"test-intake-{i}") for i in range(3)]
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
    lookup = master().lookup("police:p-raced")
    claims = [r for r in read_topic(bootstrap, PERSON_KEYS_TOPIC)
              if r.value is not None and json.loads(r.value)["lookup"] == lookup]
    tombstoned = {r.key for r in read_topic(bootstrap, PERSON_KEYS_TOPIC) if r.value is None}
    assert {c.key for c in claims} - tombstoned == {pseudonyms[0].encode()}  # the losers withdrew
    ring = dev_key_ring(bootstrap)
    key = ring.key_for("police:p-raced")
    assert key is not None and key.pseudonym == pseudonyms[0]
