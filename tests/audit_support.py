"""Helpers for the audit tests: a dedicated topic set per test, producers, and a running checkpointer.

Every test gets its own source, access-log and checkpoint topics (unique names), so that deleting
and recreating a "source topic" never touches the session's shared topics other tests use.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError
from prometheus_client import CollectorRegistry

from services.audit.checkpointer import Checkpointer, CheckpointerSettings
from services.audit.checkpointer.metrics import CheckpointerMetrics
from services.audit.library import chained_topics
from services.audit.library.kafka_log import LogReader
from services.audit.library.signing import PublicKeys, SigningKey
from services.audit.library.verify import VerificationReport, verify_log

Headers = list[tuple[str, bytes]]

GVI_AUDIT = (sys.executable, "-m", "services.audit.cli")
"""`gvi-audit` as a command: what the console script runs, from this checkout's code (the virtualenv's
script would import whichever checkout its editable install names)."""


@dataclass(frozen=True)
class TopicSet:
    bootstrap: str
    sources: tuple[str, ...]
    checkpoints: str
    access_log: str

    @property
    def chained(self) -> list[str]:
        """What the checkpointer chains and verify checks: the sources and the access log."""
        return chained_topics(list(self.sources), self.access_log)

    def settings(self, **extra: Any) -> CheckpointerSettings:
        values: dict[str, Any] = {
            "GVI_ENV": "development", "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "GVI_AUDIT_SOURCE_TOPICS": ",".join(self.sources), "GVI_AUDIT_CHECKPOINT_TOPIC": self.checkpoints,
            "GVI_AUDIT_ACCESS_LOG_TOPIC": self.access_log, "GVI_AUDIT_EVERY_RECORDS": 4,
            "GVI_AUDIT_EVERY_SECONDS": 0.3, "GVI_AUDIT_VERIFY_INTERVAL_SECONDS": 0}
        values.update(extra)
        return CheckpointerSettings(**values)

    def env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "GVI_AUDIT_SOURCE_TOPICS": ",".join(self.sources),
                "GVI_AUDIT_CHECKPOINT_TOPIC": self.checkpoints, "GVI_AUDIT_ACCESS_LOG_TOPIC": self.access_log}


def create_topics(bootstrap: str, names: Sequence[str], partitions: int = 1) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + 30
        pending = list(names)
        while pending:
            try:
                admin.create_topics([NewTopic(n, partitions, 1, topic_configs={"retention.ms": "-1"})
                                     for n in pending])
                pending = []
            except TopicAlreadyExistsError:  # still being deleted: try again
                assert time.monotonic() < deadline, f"could not create {pending}"
                time.sleep(0.3)
        admin_wait(bootstrap, names)
    finally:
        admin.close()


def admin_wait(bootstrap: str, names: Sequence[str]) -> None:
    deadline = time.monotonic() + 30
    with LogReader(bootstrap) as reader:
        for name in names:
            while not reader.partitions(name, missing_ok=True):
                assert time.monotonic() < deadline, f"topic {name} did not appear"
                time.sleep(0.2)


def delete_topic(bootstrap: str, name: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([name])
        deadline = time.monotonic() + 30
        while name in admin.list_topics():
            assert time.monotonic() < deadline, f"topic {name} was not deleted"
            time.sleep(0.2)
    except UnknownTopicOrPartitionError:
        pass
    finally:
        admin.close()


def topic_set(bootstrap: str, sources: int = 2, partitions: int = 2) -> TopicSet:
    uid = uuid.uuid4().hex[:8]
    names = tuple(f"audit-src{i}-{uid}" for i in range(sources))
    topics = TopicSet(bootstrap, names, f"audit-ckpt-{uid}", f"audit-access-{uid}")
    create_topics(bootstrap, [*names, topics.access_log], partitions)
    create_topics(bootstrap, [topics.checkpoints], 3)
    return topics


def produce_transactions(bootstrap: str, topic: str, transactions: Sequence[Sequence[tuple[bytes, bytes]]],
                         *, abort: Sequence[int] = (), partition: int | None = None) -> None:
    """Each inner list is one transaction (records as (key, value)); those numbered in `abort` are
    aborted, so the log holds their records and an abort marker, which read_committed consumers skip."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"audit-test-{uuid.uuid4()}",
                             enable_idempotence=True, acks="all")
    try:
        producer.init_transactions()
        for i, records in enumerate(transactions):
            producer.begin_transaction()
            for key, value in records:
                producer.send(topic, key=key, value=value, partition=partition,
                              headers=[("gvi-content-digest", b"d" + value[:4])])
            producer.flush()
            if i in abort:
                producer.abort_transaction()
            else:
                producer.commit_transaction()
    finally:
        producer.close()


def produce_plain(bootstrap: str, topic: str, records: Sequence[tuple[bytes | None, bytes, int, Headers]],
                  partition: int = 0) -> None:
    """Records as (key, value, timestamp ms, headers), non-transactionally, in order."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                             max_in_flight_requests_per_connection=1)
    try:
        for key, value, ts, headers in records:
            producer.send(topic, key=key, value=value, timestamp_ms=ts, partition=partition, headers=headers)
        producer.flush()
    finally:
        producer.close()


def read_all(bootstrap: str, topic: str) -> list[Any]:
    with LogReader(bootstrap) as reader:
        return [r for batch in reader.read_topics([topic]) for r in batch]


@contextmanager
def running_checkpointer(topics: TopicSet, key: SigningKey, trusted: PublicKeys | None = None,
                         **settings: Any) -> Iterator[Checkpointer]:
    checkpointer = Checkpointer(topics.settings(**settings), key, trusted or PublicKeys({}),
                                CheckpointerMetrics(CollectorRegistry()))
    checkpointer.start()
    try:
        yield checkpointer
    finally:
        checkpointer.stop()


def verify(topics: TopicSet, keys: PublicKeys, **kw: Any) -> VerificationReport:
    with LogReader(topics.bootstrap) as reader:
        return verify_log(reader, topics.chained, topics.checkpoints, keys, **kw)


def wait_all_checkpointed(topics: TopicSet, keys: PublicKeys, timeout: float = 30) -> VerificationReport:
    """Verify until every committed record is covered by a checkpoint; return that report."""
    deadline = time.monotonic() + timeout
    while True:
        report = verify(topics, keys)
        if report.unverified_records == 0 or time.monotonic() > deadline:
            return report
        time.sleep(0.3)
