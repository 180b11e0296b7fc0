"""The `person-keys` topic as a key store: a task that reads it into a `KeyRing` and keeps following
it, and the writes that claim a new person's key, shred one, or wrap claims again under a new
master key (`rewrap`, after a rotation).

A claim is decided by the records before it in the topic's one order: once the ring holds every
record up to the offset the claim was written at, it knows whether the claim is the first live
claim of its person (`KeyRing`), which is what every other reader will decide too. The store does
not wait to read its own records back: it knows each one's offset from the broker's answer, so it
applies them to the ring itself, in the topic's order, as soon as every record before them is in
the ring, and the feed skips them when it reads them (the ring applies each record once). It waits
for the feed only when another writer's record comes before its own. A claim that lost, to another
intake's claim of the same person a moment earlier, is tombstoned at once.

`provisional` lets the intake seal with a new claim's key at once and wait for that answer only
before its transaction commits (the `ClaimGate`), so the claim's write runs beside the
transaction's instead of before it. Claims of one process for the same person are coalesced while
they are under way.

The topic is followed by a `TopicFeed` (`services.infra.feed`) with `read_committed`, as every reader
here reads: the topic is written without transactions (`_write`), so that shows each record as soon
as `read_uncommitted` would, and the store decides claims from exactly the records the audit and
verify readers of the same topic see. The port's types (`ClaimGate`, `ClaimLost`,
`KeyStoreUnavailable`) are in `services.privacy.store`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.contracts.topics import PERSON_KEYS_TOPIC
from services.infra.feed import Batch, TopicFeed, TopicPartition
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity
from services.privacy.claims import Claim, PersonKey
from services.privacy.keys import KeyRing
from services.privacy.store import ClaimGate, ClaimLost, KeyStoreUnavailable

__all__ = ["KafkaKeyStore", "read_key_ring"]

log = logging.getLogger("gvi.privacy.keys")

_PARTITION = TopicPartition(PERSON_KEYS_TOPIC, 0)
"""The key topic's one partition, which every claim and tombstone is written to: one order of claims."""


class KafkaKeyStore:
    """Follows the key topic into `ring` (`start`); `caught_up` is set once it has read the topic
    to the end it had at the start. `keys_for` claims keys for new persons; `shred` destroys them;
    `rewrap` writes the claims under a previous master key again under the current one."""

    def __init__(self, bootstrap: str, ring: KeyRing, *, client_id: str,
                 security: KafkaSecurity = PLAINTEXT, timeout: float = 10.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.ring = ring
        self._feed = TopicFeed(bootstrap, [PERSON_KEYS_TOPIC], self._deliver, client_id=f"{client_id}-keys",
                               security=security, name="key store feed", on_caught_up=self._loaded)
        self.caught_up = self._feed.caught_up
        self._bootstrap = bootstrap.split(",")
        self._security = security
        self._client_id = client_id
        self._timeout = timeout
        self._clock = clock
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        # lookup -> the key of a claim under way and the task that settles it
        self._claiming: dict[str, tuple[PersonKey, asyncio.Task[None]]] = {}
        self._applied_to = 0  # the ring holds every record of the topic before this offset
        self._written: dict[int, tuple[str, bytes | None]] = {}  # offset -> a record this store wrote there

    def start(self) -> None:
        self._feed.start()

    async def stop(self) -> None:
        await self._feed.stop()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), 5)

    async def keys_for(self, person_refs: Iterable[str]) -> dict[str, PersonKey]:
        """Each person's key, claiming one for a person the ring does not know yet and waiting
        until the claim is settled (a claim lost to a rival gives the rival's key). Raises
        `KeyStoreUnavailable` if a claim cannot be written or decided in time."""
        refs = list(person_refs)
        keys, gate = self.provisional(refs)
        if gate is not None:
            try:
                await gate.passed()
            except ClaimLost:  # the rival that won is in the ring now: its key is the person's
                keys, gate = self.provisional(refs)
                if gate is not None:
                    await gate.passed()
        return keys

    def provisional(self, person_refs: Iterable[str]) -> tuple[dict[str, PersonKey], ClaimGate | None]:
        """Each person's key at once: a known person's, or for a new person the key of a claim now
        under way. The gate (None if every person was known) says whether those claims won: what
        was sealed with their keys may be published only once it has passed."""
        keys: dict[str, PersonKey] = {}
        claims: list[asyncio.Task[None]] = []
        for ref in dict.fromkeys(person_refs):
            known = self.ring.key_for(ref)
            if known is not None:
                keys[ref] = known
                continue
            keys[ref], task = self._claim_once(ref)
            claims.append(task)
        return keys, (ClaimGate(claims) if claims else None)

    async def shred(self, pseudonyms: Sequence[str]) -> int:
        """Tombstone every live claim of the persons of `pseudonyms` (rival claims included) and
        wait until the ring has applied them; returns how many claims were destroyed."""
        doomed = self.ring.claims_of(pseudonyms)
        if doomed:
            last = 0
            for pseudonym in doomed:
                last = await self._write(pseudonym, None)
            await self._ring_through(last)
        return len(doomed)

    async def rewrap(self) -> tuple[int, int]:
        """Write every live claim under a previous master key again under the current one
        (`KeyRing.rewrapped`), in the ring's order, and wait until the ring holds them;
        returns how many were re-wrapped and how many of those were shredded meanwhile.

        A re-wrap that lands after its person's tombstone (an erasure racing the rotation) is
        tombstoned again at once: the ring ignores it, but compaction keeps a pseudonym's latest
        record, which would otherwise bring the erased claim back. (A tombstone that landed after
        the re-wrap gets a second one: harmless.) Raises `KeyStoreUnavailable` if the records cannot
        be written or the records before them read, or a claim in the ring is then not under the
        current key."""
        claims = self.ring.rewrapped()
        if not claims:
            return 0, 0
        last = 0
        for claim in claims:
            last = await self._write(claim.pseudonym, claim.to_json())
        await self._ring_through(last)
        shredded = [c.pseudonym for c in claims if self.ring.was_shredded(c.pseudonym)]
        for pseudonym in shredded:
            last = await self._write(pseudonym, None)
        if shredded:
            log.info("%d claim(s) were shredded while being re-wrapped; tombstoned again", len(shredded))
            await self._ring_through(last)
        current = self.ring.master.fingerprint
        astray = [c for c in claims
                  if c.pseudonym not in shredded and self.ring.under(c.pseudonym) != current]
        if astray:
            raise KeyStoreUnavailable(f"{len(astray)} re-wrapped claim(s) are not under the current "
                                      "master key in the ring")
        return len(claims) - len(shredded), len(shredded)

    def _claim_once(self, person_ref: str) -> tuple[PersonKey, asyncio.Task[None]]:
        lookup = self.ring.lookup(person_ref)
        under_way = self._claiming.get(lookup)
        if under_way is None:
            claim, data_key = Claim.new(self.ring.master, person_ref, self._clock())
            task = asyncio.ensure_future(self._settle(claim))
            under_way = self._claiming[lookup] = (PersonKey(claim.pseudonym, data_key), task)
            task.add_done_callback(lambda done: self._settled(lookup, done))
        return under_way

    def _settled(self, lookup: str, done: asyncio.Task[None]) -> None:
        """A claim is settled: a later event finds its person in the ring (won) or claims again
        (lost or failed). Its failure is read here so that a claim whose event was refused for
        another reason, and whose gate no one awaits, does not log an unread exception."""
        self._claiming.pop(lookup, None)
        if not done.cancelled():
            done.exception()

    async def _settle(self, claim: Claim) -> None:
        """Write `claim` and decide it as every reader will: by the records before it in the topic,
        once the ring holds them and the claim (`_ring_through`)."""
        await self._ring_through(await self._write(claim.pseudonym, claim.to_json()))
        if self.ring.winner(claim.lookup) != claim.pseudonym:
            log.info("a rival claim of the same person came first; withdrawing this one")
            with contextlib.suppress(KeyStoreUnavailable):  # a rival that stands is harmless
                await self._write(claim.pseudonym, None)
            raise ClaimLost("another intake claimed the same new person a moment earlier; retry")

    async def _write(self, pseudonym: str, value: bytes | None) -> int:
        try:
            producer = await self._started_producer()
            metadata = await asyncio.wait_for(
                producer.send_and_wait(PERSON_KEYS_TOPIC, value, key=pseudonym.encode(), partition=0),
                self._timeout)
        except (KafkaError, OSError, TimeoutError) as exc:
            raise KeyStoreUnavailable(f"the key store cannot be written ({type(exc).__name__})") from exc
        offset = int(metadata.offset)
        if offset >= self._applied_to:
            self._written[offset] = (pseudonym, value)
        return offset

    async def _started_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:  # one producer, however many claims start at once
            if self._producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, client_id=self._client_id,
                                            acks="all", enable_idempotence=True, **self._security.aiokafka())
                try:
                    await asyncio.wait_for(producer.start(), self._timeout)
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def _ring_through(self, offset: int) -> None:
        """Wait until the ring holds every record of the topic up to `offset`, applying the records
        this store wrote itself as soon as every record before them is in the ring, and waiting for
        the feed to read the others' records."""
        try:
            async with asyncio.timeout(self._timeout):
                while not self._apply_written(offset):
                    await self._feed.wait_for_positions({_PARTITION: self._applied_to + 1})
        except TimeoutError as exc:
            raise KeyStoreUnavailable("the key store was written, but the records before it were "
                                      "not read in time") from exc

    def _apply_written(self, offset: int) -> bool:
        """Apply this store's own records that come next in the topic, up to `offset`; True once the
        ring holds every record up to `offset`. The feed's position counts too: what it has passed
        without a record to deliver (a record compacted away) leaves nothing to apply."""
        self._advance(self._feed.positions.get(_PARTITION, 0))
        while self._applied_to <= offset and self._applied_to in self._written:
            self.ring.apply(*self._written[self._applied_to])
            self._advance(self._applied_to + 1)
        return self._applied_to > offset

    def _advance(self, to: int) -> None:
        """The ring holds every record before `to`: the store's own records below it are done."""
        if to > self._applied_to:
            for done in [o for o in self._written if o < to]:
                del self._written[done]
            self._applied_to = to

    def _deliver(self, batch: Batch) -> None:
        records = batch.get(_PARTITION, ())
        for record in records:  # in offset order: those below `_applied_to` are the store's own, applied
            if record.offset >= self._applied_to:
                self.ring.apply(record.key.decode(), record.value)
        if records:
            self._advance(records[-1].offset + 1)

    def _loaded(self) -> None:
        log.info("key store loaded: %d persons", len(self.ring))


async def read_key_ring(bootstrap: str, ring: KeyRing, *, security: KafkaSecurity = PLAINTEXT,
                        within_seconds: float = 30.0) -> KeyRing:
    """Read the whole key topic into `ring` once (for command-line tools)."""
    store = KafkaKeyStore(bootstrap, ring, client_id="gvi-privacy", security=security)
    store.start()
    try:
        await asyncio.wait_for(store.caught_up.wait(), within_seconds)
    except TimeoutError as exc:
        raise KeyStoreUnavailable(f"the key topic was not read within {within_seconds:g}s") from exc
    finally:
        await store.stop()
    return ring
