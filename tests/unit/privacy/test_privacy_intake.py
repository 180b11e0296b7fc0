"""The intake seals before it publishes, and publishes nothing it could not seal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from services.contracts import Service
from services.intake.api import Adapters, create_app
from services.intake.ledger import ReceiptLedger
from services.intake.publishing import FakePublisher
from services.intake.settings import IntakeSettings
from services.privacy.keys import Claim, PersonKey
from services.privacy.store import ClaimGate, KeyStoreUnavailable, MemoryKeyStore
from tests.examples import example_event

AGENCIES = Path("deploy/config/agencies.dev.toml")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICE = {"content-type": "application/cloudevents+json", "authorization": "Bearer dev-police-key"}


class UnreachableKeys(MemoryKeyStore):
    """Knows the persons it was given; cannot reach the key topic to claim anyone new: a new
    person's claim fails, as the Kafka store's does, at its gate."""

    def provisional(self, person_refs: Iterable[str]) -> tuple[dict[str, PersonKey], ClaimGate | None]:
        refs = list(person_refs)
        if all(self.ring.key_for(ref) is not None for ref in refs):
            return super().provisional(refs)
        keys = MemoryKeyStore(self.ring.master).provisional(refs)[0]  # claims that never reach Kafka

        async def unreachable() -> None:
            raise KeyStoreUnavailable("the key store cannot be written (KafkaConnectionError)")

        return keys, ClaimGate([asyncio.ensure_future(unreachable())])


def client(keys: MemoryKeyStore, publisher: FakePublisher) -> TestClient:
    async def ready() -> bool:
        return True

    settings = IntakeSettings(GVI_ENV="development", GVI_AGENCIES_FILE=AGENCIES)
    return TestClient(create_app(Service.NOTIFICATIONS, settings, clock=lambda: NOW,
                                 adapters=Adapters(publisher, ReceiptLedger(), ready, keys=keys)))


def membership(person: str, event_id: str) -> dict[str, object]:
    event = example_event("gvi.membership.assessed.v1", data_overrides={"person_ref": person})
    return {**event, "id": event_id}


def test_a_new_person_the_key_store_cannot_claim_is_503_and_nothing_is_published() -> None:
    keys, publisher = UnreachableKeys(), FakePublisher()
    with client(keys, publisher) as intake:
        answer = intake.post("/v1/events", content=json.dumps(membership("P-new", "m-1")), headers=POLICE)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert "key store cannot be written" in answer.text
        assert publisher.log == []
        # the same id later, once the person can be claimed, is accepted: nothing was held
        keys.ring.apply(*_claimed(MemoryKeyStore(keys.ring.master), "P-new"))
        answer = intake.post("/v1/events", content=json.dumps(membership("P-new", "m-1")), headers=POLICE)
        assert answer.status_code == 202, answer.text


def _claimed(store: MemoryKeyStore, person: str) -> tuple[str, bytes]:
    claim, _ = Claim.new(store.ring.master, person, NOW)
    return claim.pseudonym, claim.to_json()


def test_a_batch_is_sealed_person_by_person_in_one_publish() -> None:
    keys, publisher = MemoryKeyStore(), FakePublisher()
    events: Sequence[dict[str, object]] = [membership("P-1", "b-1"), membership("P-2", "b-2"),
                                           membership("P-1", "b-3")]
    with client(keys, publisher) as intake:
        answer = intake.post("/v1/events", content=json.dumps(events),
                             headers={**POLICE, "content-type": "application/cloudevents-batch+json"})
        assert answer.status_code == 202, answer.text
    values = [json.loads(record.value) for record, _ in publisher.log]
    refs = [v["data"]["person_ref"] for v in values]
    assert refs[0] == refs[2] != refs[1]
    assert [keys.ring.reveal(r) for r in refs] == ["P-1", "P-2", "P-1"]
