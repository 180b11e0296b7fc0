"""How a key store decides its own claim of a new person, against the real broker: by the records
before the claim in `person-keys`, which it has read by the time the claim is written, and not by
waiting to read the claim itself back. Every reader that applies the topic in its order must then
agree with what each store decided."""

from __future__ import annotations

import asyncio
from typing import Any

from services.privacy.kafka_keys import KafkaKeyStore
from services.privacy.keys import KeyRing
from services.privacy.store import KeyStoreUnavailable
from tests.privacy_support import dev_key_ring, dev_master_key


async def started(bootstrap: str, name: str, **kw: Any) -> KafkaKeyStore:
    store = KafkaKeyStore(bootstrap, KeyRing(dev_master_key()), client_id=name, **kw)
    store.start()
    await asyncio.wait_for(store.caught_up.wait(), 20)
    return store


def test_a_claim_is_decided_without_reading_it_back(kafka_broker: Any) -> None:
    """A store whose feed stops once it has read the topic still settles a new claim: nothing came
    before the claim that it has not read. A claim written after a rival's that the store has not
    read cannot be decided, and is refused rather than taken as a win."""

    async def run() -> tuple[str, BaseException | None]:
        store = await started(kafka_broker.bootstrap, "test-decide-frozen", timeout=3.0)
        rival = await started(kafka_broker.bootstrap, "test-decide-rival")
        try:
            await store._feed.stop()  # from here on the store reads nothing more of the topic
            key = (await store.keys_for(["police:p-decided"]))["police:p-decided"]
            await rival.keys_for(["police:p-rival-first"])  # a record the frozen store never reads
            try:
                await store.keys_for(["police:p-rival-first"])
            except KeyStoreUnavailable as exc:
                return key.pseudonym, exc
            return key.pseudonym, None
        finally:
            await rival.stop()
            await store.stop()

    pseudonym, refused = asyncio.run(run())
    ring = dev_key_ring(kafka_broker.bootstrap)
    decided = ring.key_for("police:p-decided")
    assert decided is not None and decided.pseudonym == pseudonym
    assert isinstance(refused, KeyStoreUnavailable)
    assert "records before it were not read in time" in str(refused)


def test_a_store_applies_its_own_records_without_reading_them_back(kafka_broker: Any) -> None:
    """A store whose feed is stopped decides several new persons' claims written at once, each
    following another of its own in the topic, and shreds one of them: it knows what it wrote at
    each offset, so it needs no reader for its own records. A fresh reader finds what it decided."""
    persons = [f"police:p-own-{i}" for i in range(6)]

    async def run() -> tuple[dict[str, str], bool]:
        store = await started(kafka_broker.bootstrap, "test-decide-own", timeout=3.0)
        try:
            await store._feed.stop()
            answers = await asyncio.gather(*(store.keys_for([ref]) for ref in persons))
            decided = {ref: key.pseudonym for answer in answers for ref, key in answer.items()}
            await store.shred([decided[persons[0]]])
            return decided, store.ring.key_for(persons[0]) is None
        finally:
            await store.stop()

    decided, shredded_in_store = asyncio.run(run())
    assert shredded_in_store
    ring = dev_key_ring(kafka_broker.bootstrap)
    assert ring.key_for(persons[0]) is None and ring.was_shredded(decided[persons[0]])
    for ref in persons[1:]:
        found = ring.key_for(ref)
        assert found is not None and found.pseudonym == decided[ref], ref


def test_many_rival_claims_end_as_every_reader_decides(kafka_broker: Any) -> None:
    """Several stores claiming the same new persons at once, each deciding its claims from the
    records before them: each person gets one pseudonym in every store, the one a fresh reader of
    the topic finds."""
    persons, stores = [f"police:p-contested-{i}" for i in range(25)], 4

    async def run() -> list[dict[str, str]]:
        rivals = [await started(kafka_broker.bootstrap, f"test-contest-{i}") for i in range(stores)]
        try:
            answers = await asyncio.gather(*(store.keys_for([ref]) for ref in persons for store in rivals))
        finally:
            for store in rivals:
                await store.stop()
        found: list[dict[str, str]] = [{} for _ in rivals]
        for n, answer in enumerate(answers):
            [(ref, key)] = answer.items()
            found[n % stores][ref] = key.pseudonym
        return found

    per_store = asyncio.run(run())
    ring = dev_key_ring(kafka_broker.bootstrap)
    for ref in persons:
        winner = ring.key_for(ref)
        assert winner is not None
        assert {found[ref] for found in per_store} == {winner.pseudonym}, ref
