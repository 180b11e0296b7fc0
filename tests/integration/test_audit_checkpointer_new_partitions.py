"""The checkpointer chains what appears while it runs: a partition added to a chained topic, and a
chained topic created after it started (which does not keep it from becoming ready)."""

from __future__ import annotations

import dataclasses
import time
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka.admin import KafkaAdminClient, NewPartitions

from services.audit.library.signing import PublicKeys, SigningKey
from tests.audit_support import (
    create_topics,
    produce_transactions,
    running_checkpointer,
    topic_set,
    wait_all_checkpointed,
)

KEY = SigningKey(Ed25519PrivateKey.generate())
TRUSTED = PublicKeys.of(KEY.public)


def test_partitions_and_topics_added_while_it_runs_are_chained(kafka_bootstrap: str) -> None:
    created = topic_set(kafka_bootstrap, sources=1, partitions=2)
    late = f"audit-late-{uuid.uuid4().hex[:8]}"
    topics = dataclasses.replace(created, sources=(*created.sources, late))
    source = created.sources[0]
    produce_transactions(kafka_bootstrap, source, [[(b"a", b'{"n":%d}' % i)] for i in range(3)], partition=0)
    with running_checkpointer(topics, KEY) as checkpointer:
        deadline = time.monotonic() + 30
        while not checkpointer.ready:  # the missing topic does not hold it back
            assert time.monotonic() < deadline, "the checkpointer never became ready"
            time.sleep(0.2)
        admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        try:
            admin.create_partitions({source: NewPartitions(3)})
        finally:
            admin.close()
        create_topics(kafka_bootstrap, [late], 1)
        produce_transactions(kafka_bootstrap, source, [[(b"c", b'{"n":%d}' % i)] for i in range(2)],
                             partition=2)
        produce_transactions(kafka_bootstrap, late, [[(b"l", b'{"n":%d}' % i)] for i in range(4)])
        report = wait_all_checkpointed(topics, TRUSTED, timeout=60)
    assert report.ok and report.unverified_records == 0, [str(p) for p in report.problems]
    assert report.records == 3 + 2 + 4
