"""Where a sealed event's extra time goes, measured in one process beside the sealing benchmark
(`devtools.bench.sealing`), against the same broker, without HTTP and without the intake's other
work: the parts that only sealed events pay, beside what every event pays.

* a new person's key claim: `KafkaKeyStore.keys_for` for a person it does not know (the claim is
  written to `person-keys` with acks=all and decided from the records before it);
* the intake's publisher committing one record in a transaction, as it does for every event;
* the CPU sealing adds per event: the key lookup (an HMAC), AES-GCM, the sealed event's JSON and
  its re-parse (`read_event`, to place it by its pseudonym), beyond what a group-only event costs.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devtools.bench.common import create_topic, percentile
from services.contracts import parse_event, partition_key, read_event
from services.contracts.envelope import canonical_json
from services.intake.kafka import KafkaPublisher
from services.intake.publishing import OutgoingRecord
from services.privacy.claims import Claim, MasterKey
from services.privacy.kafka_keys import KafkaKeyStore
from services.privacy.keys import KeyRing
from services.privacy.sealing import person_refs, seal

__all__ = ["Profile", "Timing", "profile"]

TOPIC = "bench-sealing-profile"
WARM = 20
ACCEPTED = {"recordedtime": "2020-05-01T10:00:01Z", "agency": "police"}


@dataclass(frozen=True)
class Timing:
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Timing:
        return cls(percentile(seconds, 50) * 1000, percentile(seconds, 99) * 1000)


@dataclass(frozen=True)
class Profile:
    claim: Timing
    transaction: Timing
    seal_us: float


async def _round_trips(bootstrap: str, n: int) -> tuple[list[float], list[float]]:
    """`n` new persons' claims and `n` one-record transactions, one after the other."""
    store = KafkaKeyStore(bootstrap, KeyRing(MasterKey(secrets.token_bytes(32))), client_id="bench-profile")
    publisher = KafkaPublisher(bootstrap, timeout_seconds=10, client_id="bench-profile")
    store.start()
    await publisher.start()
    run, claims, commits = uuid.uuid4().hex[:8], [], []
    try:
        await asyncio.wait_for(store.caught_up.wait(), 30)
        for i in range(WARM + n):
            start = time.perf_counter()
            await store.keys_for([f"profile-{run}-{i}"])
            claimed = time.perf_counter()
            await publisher.publish([OutgoingRecord(TOPIC, f"k-{i}", b"{}")], atomic=False)
            if i >= WARM:
                claims.append(claimed - start)
                commits.append(time.perf_counter() - claimed)
    finally:
        await publisher.close()
        await store.stop()
    return claims, commits


def _event(i: int, person: str | None) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"profile-{i}", "source": "/agencies/police",
            "type": "gvi.sanction.recorded.v1", "time": "2020-05-01T10:00:00Z",
            "datacontenttype": "application/json",
            "data": {"kind": "arrest", "group_id": f"grp-{i % 50}", "person_ref": person}}


def _seal_cpu_us(n: int = 2000, pool: int = 500) -> float:
    """Microseconds per event that the intake's sealing path spends beyond the group-only path."""
    ring = KeyRing(MasterKey(secrets.token_bytes(32)))
    for k in range(pool):
        claim, _ = Claim.new(ring.master, f"p-{k}", datetime.now(UTC))
        ring.apply(claim.pseudonym, claim.to_json())
    sealed = [parse_event(_event(i, f"p-{i % pool}")).submitted() for i in range(n)]
    plain = [(event, event.submitted()) for event in (parse_event(_event(i, None)) for i in range(n))]
    start = time.perf_counter()
    for submitted in sealed:
        keys = {ref: ring.key_for(ref) for ref in person_refs(submitted)}
        value = canonical_json(seal({**submitted, **ACCEPTED}, {r: k for r, k in keys.items() if k}))
        partition_key(read_event(value))
    sealing = time.perf_counter() - start
    start = time.perf_counter()
    for event, submitted in plain:
        person_refs(submitted)
        canonical_json(seal({**submitted, **ACCEPTED}, {}))
        partition_key(event)
    return (sealing - (time.perf_counter() - start)) / n * 1e6


def profile(bootstrap: str, n: int) -> Profile:
    create_topic(bootstrap, TOPIC)
    claims, commits = asyncio.run(_round_trips(bootstrap, n))
    return Profile(Timing.of(claims), Timing.of(commits), _seal_cpu_us())
