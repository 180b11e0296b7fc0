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
from services.privacy.claims import Claim, PersonKey
from services.privacy.store import ClaimGate, ClaimLost, KeyStoreUnavailable, MemoryKeyStore
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


class LosesRaces(MemoryKeyStore):
    """A new person's claim loses to another intake's claim of the same person made a moment
    earlier. With `rival_read_back`, the ring then holds the rival (as the Kafka store's ring does
    once it has read the rival's record back); without, every claim loses."""

    def __init__(self, *, rival_read_back: bool) -> None:
        super().__init__()
        self.rival_read_back = rival_read_back
        self.races = 0

    def provisional(self, person_refs: Iterable[str]) -> tuple[dict[str, PersonKey], ClaimGate | None]:
        refs = list(person_refs)
        new = [ref for ref in refs if self.ring.key_for(ref) is None]
        if not new:
            return super().provisional(refs)
        self.races += 1
        keys = MemoryKeyStore(self.ring.master).provisional(refs)[0]  # the claims that will lose

        async def lost() -> None:
            if self.rival_read_back:
                for ref in new:
                    self.ring.apply(*_claimed(self, ref))
            raise ClaimLost("another intake claimed the same new person a moment earlier; retry")

        return keys, ClaimGate([asyncio.ensure_future(lost())])


def test_an_event_whose_new_person_was_claimed_by_another_intake_first_is_sealed_again_and_accepted() -> None:
    keys, publisher = LosesRaces(rival_read_back=True), FakePublisher()
    with client(keys, publisher) as intake:
        answer = intake.post("/v1/events", content=json.dumps(membership("P-raced", "r-1")), headers=POLICE)
    assert answer.status_code == 202, answer.text
    assert keys.races == 1 and len(publisher.log) == 1
    winner = keys.ring.key_for("P-raced")
    assert winner is not None
    assert json.loads(publisher.log[0][0].value)["data"]["person_ref"] == winner.pseudonym


def test_a_second_lost_race_is_a_503_to_retry_and_nothing_is_published() -> None:
    keys, publisher = LosesRaces(rival_read_back=False), FakePublisher()
    with client(keys, publisher) as intake:
        answer = intake.post("/v1/events", content=json.dumps(membership("P-raced", "r-1")), headers=POLICE)
    assert answer.status_code == 503 and "claimed the same new person" in answer.text
    assert keys.races == 2 and publisher.log == []

