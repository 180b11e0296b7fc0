"""The audit trail for the dashboard's auditor pages: the last verification and the checkpoints.

    view = AuditView(bootstrap, load_public_keys(path))
    snapshot = view.snapshot()        # blocking (its own event loop): call it from a worker thread
    snapshot.last_verification        # the latest signed verification result, or None
    snapshot.partitions               # per chained partition: its latest checkpoint and how many
    snapshot.problems                 # checkpoints whose signature does not verify, malformed records
    view.verify()                     # a full verification now (reads the whole log: slow)

Everything read is checked against the auditors' public keys first: a verification result or
checkpoint signed by another key is reported as a problem, never shown as good.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.audit.library.checkpoints import VerificationRecord
from services.audit.library.kafka_log import LogReader
from services.audit.library.settings import chained_topics, default_source_topics
from services.audit.library.signing import PublicKeys
from services.audit.library.verify import Problem, VerificationReport, load_checkpoints, verify_log
from services.contracts import ACCESS_LOG_TOPIC, AUDIT_CHECKPOINTS_TOPIC, DATA_PROTECTION_TOPIC
from services.infra.kafka_security import PLAINTEXT, KafkaSecurity

__all__ = ["AuditSnapshot", "AuditView", "PartitionCheckpoints"]


@dataclass(frozen=True, slots=True)
class PartitionCheckpoints:
    topic: str
    partition: int
    checkpoints: int
    last_offset: int
    last_count: int
    last_time: datetime
    last_chain: str
    key_id: str


@dataclass(frozen=True, slots=True)
class AuditSnapshot:
    last_verification: VerificationRecord | None
    partitions: tuple[PartitionCheckpoints, ...]
    problems: tuple[Problem, ...]
    checkpoint_records: int


class AuditView:
    def __init__(self, bootstrap: str, keys: PublicKeys, *, checkpoint_topic: str = AUDIT_CHECKPOINTS_TOPIC,
                 topics: Sequence[str] | None = None, timeout_s: float = 10.0,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._keys = keys
        self._checkpoint_topic = checkpoint_topic
        self._topics = (list(topics) if topics is not None
                        else chained_topics(default_source_topics().split(","), ACCESS_LOG_TOPIC,
                                       DATA_PROTECTION_TOPIC))
        self._timeout_s = timeout_s

    def snapshot(self) -> AuditSnapshot:
        """Raises `BrokerUnreachable` when Kafka does not answer."""
        with LogReader(self._bootstrap, client_id="gvi-audit-view", timeout_s=self._timeout_s,
                       security=self._security) as reader:
            trusted = load_checkpoints(reader, self._checkpoint_topic, self._keys, self._topics,
                                       keep_segments=False)
        partitions = []
        for (topic, partition), found in sorted(trusted.by_partition.items()):
            last = found[-1]
            partitions.append(PartitionCheckpoints(topic, partition, len(found), last.offset, last.count,
                                                   last.time, last.chain, last.key_id))
        return AuditSnapshot(trusted.verification, tuple(partitions), tuple(trusted.problems), trusted.read)

    def verify(self, *, grace_seconds: float = 900.0) -> VerificationReport:
        with LogReader(self._bootstrap, client_id="gvi-audit-view", timeout_s=self._timeout_s,
                       security=self._security) as reader:
            return verify_log(reader, self._topics, self._checkpoint_topic, self._keys,
                              grace_seconds=grace_seconds)
