"""Which `group-state` partitions this worker publishes: a lease held through a Kafka consumer group.

Every worker evaluates every event (the rules join across partitions: an incident's groups, a
person's memberships, rivalries), each with its own consumer group, fact store and ledger. What the
workers share is the publishing: the partitions of `group-state` (a group's records, and the alerts
about it, belong to the partition of its group id) are divided among them by Kafka's group protocol.
Every worker of one processor joins the consumer group `<GVI_PROCESSOR_CLUSTER>-publishers`,
subscribed to `group-state` with every assigned partition paused (it reads nothing): the partitions
assigned to a worker are the ones it publishes. When a worker stops or dies, the group protocol
hands its partitions to the others, which first make those partitions say what their own ledger
says (`ProcessorCore.reconcile`), then publish them as they go.

Each worker is a static member of that group (its `GVI_PROCESSOR_ID` is its instance id): a worker
restarted after a crash takes its partitions back at once instead of waiting for its dead self's
session to time out. A static member does not leave the group when it stops, so the partitions of a
worker that stops for good pass to the others after the session timeout.

Revocation comes first in the protocol: a worker losing a partition waits until everything it sent
is acknowledged before it lets go, so the next owner's reading of the partition already holds it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Set

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka import TopicPartition as KafkaTopicPartition

from services.infra.kafka_security import PLAINTEXT, KafkaSecurity

__all__ = ["PublishingLease"]

log = logging.getLogger(__name__)

POLL_TIMEOUT_MS = 1000


class PublishingLease(ConsumerRebalanceListener):  # type: ignore[misc]
    """Holds this worker's share of the `group-state` partitions. `owned` is what it may publish
    now; `on_gained(partitions)` is awaited for partitions newly assigned, `on_losing()` before any
    is given up."""

    def __init__(self, bootstrap: str, group_id: str, topic: str, *,
                 on_gained: Callable[[frozenset[int]], Awaitable[None]],
                 on_losing: Callable[[], Awaitable[None]], instance_id: str | None = None,
                 session_timeout_ms: int = 10_000, security: KafkaSecurity = PLAINTEXT) -> None:
        self.topic = topic
        self.group_id = group_id
        self.owned: frozenset[int] = frozenset()
        self.joined = asyncio.Event()
        self._on_gained = on_gained
        self._on_losing = on_losing
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id,
                                          enable_auto_commit=False, isolation_level="read_committed",
                                          group_instance_id=instance_id,
                                          session_timeout_ms=session_timeout_ms,
                                          heartbeat_interval_ms=session_timeout_ms // 3,
                                          **security.aiokafka())
        self._task: asyncio.Task[None] | None = None

    def owns(self, partition: int) -> bool:
        return partition in self.owned

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.subscribe([self.topic], listener=self)
        self._task = asyncio.create_task(self._keep_alive(), name="publishing-lease")

    async def stop(self) -> None:
        """Stop publishing (a dynamic member also leaves the group: the others take its partitions at
        once; a static member's partitions wait for its return or its session's end)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._on_losing()
        self.owned = frozenset()
        await self._consumer.stop()

    async def _keep_alive(self) -> None:
        # the group protocol runs in aiokafka's coordinator; polling (nothing: every partition is
        # paused) keeps this member within max.poll.interval.ms
        while True:
            await self._consumer.getmany(timeout_ms=POLL_TIMEOUT_MS)

    # -- the group protocol ---------------------------------------------------------------------------
    async def on_partitions_revoked(self, revoked: Set[KafkaTopicPartition]) -> None:
        self.owned = self.owned - {tp.partition for tp in revoked}  # nothing more is sent to them
        if revoked:
            await self._on_losing()

    async def on_partitions_assigned(self, assigned: Set[KafkaTopicPartition]) -> None:
        self._consumer.pause(*assigned)
        partitions = frozenset(tp.partition for tp in assigned if tp.topic == self.topic)
        gained = partitions - self.owned
        self.owned = partitions
        log.info("publishing %d of the %s partitions (%s)", len(partitions), self.topic,
                 ",".join(map(str, sorted(partitions))) or "none")
        self.joined.set()
        if gained:
            await self._on_gained(gained)
