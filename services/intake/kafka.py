"""Kafka adapters of the intake: the publisher and the receipt feed (kafka-python).

`KafkaPublisher` sends single events through an idempotent producer and batches through a
transactional one, both with `acks=all`. Its timeouts are chosen so that the producer itself
gives up on a record (`delivery.timeout.ms`) before the HTTP answer is sent: when the client hears
503, the record has been dropped from the producer's buffer and cannot appear later. A
transaction that cannot commit in time is aborted, and the broker aborts it too after
`transaction.timeout.ms`.

`ReceiptFeed` reads the service's topic from the beginning into the ledger and keeps tailing it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from services.intake.errors import BrokerUnavailable
from services.intake.ledger import Receipt, ReceiptLedger
from services.intake.publishing import OutgoingRecord, Placement

__all__ = ["KafkaPublisher", "ReceiptFeed"]

log = logging.getLogger("gvi.intake.kafka")

_UNAVAILABLE = "the event log (Kafka) did not acknowledge in time; nothing was published, retry later"


class KafkaPublisher:
    def __init__(self, bootstrap: str, *, timeout_seconds: float, client_id: str) -> None:
        self._bootstrap = bootstrap
        self._timeout_ms = int(timeout_seconds * 1000)
        self._client_id = client_id
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kafka-send")
        self._tx_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-tx")
        self._producer: KafkaProducer | None = None
        self._tx_producer: KafkaProducer | None = None
        self._tx_lock = asyncio.Lock()
        self._admin: KafkaAdminClient | None = None
        self._probed_at = -1.0
        self._reachable = False

    def _common(self) -> dict[str, Any]:
        request_timeout = max(1000, self._timeout_ms - 1000)
        return {
            "bootstrap_servers": self._bootstrap.split(","),
            "acks": "all",
            "enable_idempotence": True,
            "request_timeout_ms": request_timeout,
            "delivery_timeout_ms": self._timeout_ms,
            "max_block_ms": self._timeout_ms,
            "linger_ms": 1,
            "retry_backoff_ms": 100,
            "reconnect_backoff_max_ms": 1000,
        }

    def connect(self) -> None:
        """Create the producers (blocking; called once from the composition root)."""
        self._producer = KafkaProducer(client_id=f"{self._client_id}-single", **self._common())

    def _tx(self) -> KafkaProducer:
        if self._tx_producer is None:
            producer = KafkaProducer(
                client_id=f"{self._client_id}-batch",
                transactional_id=f"{self._client_id}-{uuid.uuid4()}",
                transaction_timeout_ms=max(self._timeout_ms, 1000),
                **self._common())
            producer.init_transactions()
            self._tx_producer = producer
        return self._tx_producer

    def _drop_tx(self) -> None:
        producer, self._tx_producer = self._tx_producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception:  # the producer is being discarded
                log.debug("closing a failed transactional producer raised", exc_info=True)

    async def publish(self, records: Sequence[OutgoingRecord], *, atomic: bool) -> list[Placement]:
        loop = asyncio.get_running_loop()
        if atomic:
            async with self._tx_lock:
                return await loop.run_in_executor(self._tx_executor, self._publish_transaction, records)
        # send() may block on metadata, so it runs on a worker thread; the acknowledgements come
        # back through callbacks, so no thread waits for the broker.
        acks = await loop.run_in_executor(self._executor, self._send_plain, records, loop)
        try:
            # The producer expires undelivered records after delivery.timeout.ms; wait a little
            # longer so that the answer we give is the producer's own verdict.
            metas = await asyncio.wait_for(asyncio.gather(*acks), self._timeout_ms / 1000 + 2)
        except (KafkaError, TimeoutError) as exc:
            log.warning("publish failed: %s", type(exc).__name__)
            raise BrokerUnavailable(_UNAVAILABLE) from exc
        return [Placement(m.topic, m.partition, m.offset) for m in metas]

    def _send_plain(self, records: Sequence[OutgoingRecord],
                    loop: asyncio.AbstractEventLoop) -> list[asyncio.Future[Any]]:
        assert self._producer is not None, "connect() first"
        acks: list[asyncio.Future[Any]] = []
        for r in records:
            ack: asyncio.Future[Any] = loop.create_future()
            try:
                sent = self._producer.send(r.topic, value=r.value, key=r.key.encode(),
                                           headers=list(r.headers))
            except KafkaError as exc:
                loop.call_soon_threadsafe(_settle, ack, None, exc)
            else:
                sent.add_callback(lambda meta, f=ack: loop.call_soon_threadsafe(_settle, f, meta, None))
                sent.add_errback(lambda exc, f=ack: loop.call_soon_threadsafe(_settle, f, None, exc))
            acks.append(ack)
        return acks

    def _publish_transaction(self, records: Sequence[OutgoingRecord]) -> list[Placement]:
        try:
            producer = self._tx()
            producer.begin_transaction()
            futures = [producer.send(r.topic, value=r.value, key=r.key.encode(), headers=list(r.headers))
                       for r in records]
            producer.commit_transaction()
            metas = [f.get(timeout=0) for f in futures]
        except KafkaError as exc:
            log.warning("transactional publish failed: %s", type(exc).__name__)
            self._abort_quietly()
            raise BrokerUnavailable(_UNAVAILABLE) from exc
        return [Placement(m.topic, m.partition, m.offset) for m in metas]

    def _abort_quietly(self) -> None:
        producer = self._tx_producer
        if producer is not None:
            try:
                producer.abort_transaction()
            except Exception:  # already failed; the broker times the transaction out
                log.debug("abort after failure raised", exc_info=True)
        self._drop_tx()

    async def is_reachable(self) -> bool:
        """Whether the cluster answers a metadata request now (readiness; at most one probe a second)."""
        now = time.monotonic()
        if now - self._probed_at < 1.0:
            return self._reachable
        self._probed_at = now
        self._reachable = await asyncio.get_running_loop().run_in_executor(self._executor, self._probe)
        return self._reachable

    def _probe(self) -> bool:
        try:
            if self._admin is None:
                self._admin = KafkaAdminClient(bootstrap_servers=self._bootstrap.split(","),
                                               request_timeout_ms=2000,
                                               client_id=f"{self._client_id}-probe")
            self._admin.describe_cluster()
            return True
        except KafkaError:
            admin, self._admin = self._admin, None
            if admin is not None:
                admin.close()
            return False

    async def close(self) -> None:
        def shut() -> None:
            if self._producer is not None:
                self._producer.close(timeout=self._timeout_ms / 1000)
            self._drop_tx()
            if self._admin is not None:
                self._admin.close()

        await asyncio.get_running_loop().run_in_executor(None, shut)
        self._executor.shutdown(wait=False)
        self._tx_executor.shutdown(wait=False)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class ReceiptFeed:
    """Replays the service's topic into the ledger, then tails it, on a background thread."""

    def __init__(self, bootstrap: str, topic: str, ledger: ReceiptLedger, *, client_id: str) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._ledger = ledger
        self._client_id = client_id
        self._stop = threading.Event()
        self.caught_up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="receipt-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume()
            except KafkaError as exc:
                log.warning("receipt feed interrupted (%s); retrying", type(exc).__name__)
                self._stop.wait(1)

    def _consume(self) -> None:
        consumer = KafkaConsumer(bootstrap_servers=self._bootstrap.split(","),
                                 client_id=f"{self._client_id}-ledger", group_id=None,
                                 enable_auto_commit=False, isolation_level="read_committed",
                                 request_timeout_ms=5000, reconnect_backoff_max_ms=1000)
        try:
            partitions = consumer.partitions_for_topic(self._topic)
            if not partitions:
                raise KafkaError(f"topic {self._topic} has no partitions yet")
            assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            consumer.seek_to_beginning(*assigned)
            targets = consumer.end_offsets(assigned)
            while not self._stop.is_set():
                batches = consumer.poll(timeout_ms=200, max_records=5000)
                receipts = [r for records in batches.values() for rec in records
                            if (r := _receipt(rec)) is not None]
                if receipts:
                    self._ledger.add(receipts)
                if not self.caught_up.is_set() and all(
                        consumer.position(tp) >= end for tp, end in targets.items()):
                    log.info("receipt ledger loaded: %d events", len(self._ledger))
                    self.caught_up.set()
        finally:
            consumer.close()


def _receipt(record: Any) -> Receipt | None:
    try:
        event = json.loads(record.value)
        headers = dict(record.headers or [])
        return Receipt(
            id=event["id"], source=event["source"], type=event["type"], topic=record.topic,
            partition=record.partition, offset=record.offset, recordedtime=event["recordedtime"],
            key=record.key.decode(), digest=headers["gvi-content-digest"].decode())
    except (KeyError, TypeError, ValueError, AttributeError):
        log.warning("skipping a record without a receipt at %s/%d/%d",
                    record.topic, record.partition, record.offset)
        return None
