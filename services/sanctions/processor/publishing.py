"""Sending the worker's outputs, and waiting for the broker's acknowledgement of everything it sent.

A group's records, and the alerts about it, are sent by the worker whose share of the publishing
(its `PublishingLease`, see `ownership`) holds the partition of the group's id
(`partitioning.group_partition`): a record goes to that partition of `group-state`, an alert to its
own id's partition of `alerts` (`key_partition`). Outputs go as record batches, one or more per
partition, and are not awaited one by one: every send, the fact table's changelog writes included,
joins the unacknowledged sends that a commit waits for (`wait_acknowledged`) and whose age readiness
watches (`Health`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

from services.contracts import ALERTS_TOPIC, GROUP_STATE_TOPIC
from services.contracts.alerts import Alert, AlertWithdrawal, alert_key
from services.contracts.group_state_records import Record
from services.sanctions.processor.faust_adapter import BulkApp, kafka_producer
from services.sanctions.processor.health import Health
from services.sanctions.processor.ownership import PublishingLease
from services.sanctions.processor.partitioning import group_partition, key_partition, partition_of

__all__ = ["Publisher"]


class Publisher:
    """Sends the `group-state` records and the alerts of the partitions this worker publishes, through
    the faust app's producer, and keeps their acknowledgements until a commit waits for them."""

    def __init__(self, app: BulkApp, partitions: int, health: Health) -> None:
        self.app = app
        self.partitions = partitions
        self.health = health
        self.lease: PublishingLease | None = None
        """This worker's share of the publishing: none until it joins the publishers
        (`Recovery.join_publishers`), and nothing is sent until then."""
        self._unacked: list[Awaitable[Any]] = []
        self._last_alerts: dict[str, bytes] = {}  # alert id -> its last record on the topic

    @property
    def owned(self) -> frozenset[int]:
        """The `group-state` partitions this worker publishes now."""
        return self.lease.owned if self.lease is not None else frozenset()

    def publishes(self, partition: int) -> bool:
        return self.lease is not None and self.lease.owns(partition)

    def remember_alerts(self, last: Mapping[str, bytes]) -> None:
        """Each alert's last record as read from the alerts topic (see `send_alerts`)."""
        self._last_alerts.update(last)

    async def send_records(self, records: Sequence[Record],
                           headers: Sequence[tuple[str, bytes]] = ()) -> None:
        """Send the records of the partitions this worker publishes (the others' owners send theirs)."""
        partitions, owns = self.partitions, self.publishes
        await self._send(GROUP_STATE_TOPIC, [
            (partition, key, value) for key, value in records
            if owns(partition := partition_of(key, partitions))], headers)

    async def send_alerts(self, alerts: Sequence[Alert | AlertWithdrawal],
                          headers: Sequence[tuple[str, bytes]] = ()) -> None:
        """Send the alerts about groups of the partitions this worker publishes, each to the partition
        Kafka's default partitioner gives its id (so an alert and its withdrawal share one), unless
        the alert's last record, as this worker last read or wrote it, already says the same: after a
        restart the events since the last commit are read again, and their alerts were published."""
        if not alerts:
            return
        count = len(await kafka_producer(self.app).partitions_for(ALERTS_TOPIC))
        partitions, owns, last = self.partitions, self.publishes, self._last_alerts
        records = []
        for alert in alerts:
            if not owns(group_partition(alert.group_id, partitions)):
                continue
            value = alert.to_json()
            if last.get(alert.alert_id) == value:
                continue  # the topic's last record of this alert says so already (events read again)
            last[alert.alert_id] = value
            records.append((key_partition(key := alert_key(alert.alert_id), count), key, value))
        await self._send(ALERTS_TOPIC, records, headers)

    async def _send(self, topic: str, records: Sequence[tuple[int, bytes, bytes | None]],
                    headers: Sequence[tuple[str, bytes]] = ()) -> None:
        """Send (partition, key, value) records, in order, as one record batch per partition (or more,
        each up to the producer's batch size): handing aiokafka a record at a time cost more than the
        rules. Each batch's delivery joins the unacknowledged sends that a commit waits for."""
        if not records:
            return
        producer, sent = kafka_producer(self.app), self.sent
        headers = list(headers)  # aiokafka's record batch takes a list only
        batches: dict[int, Any] = {}
        for partition, key, value in records:
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                # full: send it, and start another (an empty batch takes any record)
                sent(await producer.send_batch(batch, topic, partition=partition))
                batch = batches[partition] = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)
        for partition, batch in batches.items():
            sent(await producer.send_batch(batch, topic, partition=partition))

    def sent(self, acknowledgement: Awaitable[Any]) -> None:
        """An output handed to the producer (a record batch, an alert batch, or a fact the table
        wrote to its changelog): a commit waits for it, readiness watches its age."""
        self._unacked.append(acknowledgement)
        self.health.sent(acknowledgement, time.monotonic())  # type: ignore[arg-type]

    async def wait_acknowledged(self) -> None:
        """Wait until the broker has acknowledged every fact, record and alert sent so far (a
        failed send raises: the offsets are not committed, and the events are read again)."""
        unacked = list(self._unacked)
        del self._unacked[:len(unacked)]
        if unacked:
            await asyncio.gather(*unacked)
