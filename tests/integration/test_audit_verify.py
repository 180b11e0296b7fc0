"""`verify` against the real broker: a checkpointer chains dedicated topics, then the log is tampered with."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka import KafkaProducer

from services.audit.library.checkpoints import Checkpoint, checkpoint_key, decode
from services.audit.library.signing import PublicKeys, SigningKey
from tests.audit_support import (
    TopicSet,
    create_topics,
    delete_topic,
    produce_plain,
    produce_transactions,
    read_all,
    running_checkpointer,
    topic_set,
    verify,
    wait_all_checkpointed,
)

KEY = SigningKey(Ed25519PrivateKey.generate())
TRUSTED = PublicKeys.of(KEY.public)


def _value(i: int, text: str = "original") -> bytes:
    return json.dumps({"n": i, "text": text}).encode()


def _checkpointed_plain_topic(bootstrap: str, n: int = 12) -> tuple[TopicSet, list[Any]]:
    topics = topic_set(bootstrap, sources=1, partitions=1)
    produce_plain(bootstrap, topics.sources[0],
                  [(f"k{i}".encode(), _value(i), 1_700_000_000_000 + i, [("h", b"v")]) for i in range(n)])
    with running_checkpointer(topics, KEY):
        report = wait_all_checkpointed(topics, TRUSTED)
    assert report.ok and report.unverified_records == 0, report.problems
    return topics, read_all(bootstrap, topics.sources[0])


def _recreate(topics: TopicSet, records: list[Any]) -> None:
    """Delete the source topic and write it again from `records` (key, value, timestamp, headers kept)."""
    bootstrap, topic = topics.bootstrap, topics.sources[0]
    delete_topic(bootstrap, topic)
    create_topics(bootstrap, [topic], 1)
    produce_plain(bootstrap, topic, [(r.key, r.value, r.timestamp, list(r.headers)) for r in records])


def test_verify_passes_on_an_untouched_transactional_log_with_aborted_records(kafka_bootstrap: str) -> None:
    topics = topic_set(kafka_bootstrap)
    committed = 0
    for topic in topics.sources:
        txs = [[(f"g{t}".encode(), _value(t * 10 + i)) for i in range(1 + t % 3)] for t in range(9)]
        produce_transactions(kafka_bootstrap, topic, txs, abort=(2, 5))
        committed += sum(len(tx) for t, tx in enumerate(txs) if t not in (2, 5))
    with running_checkpointer(topics, KEY):
        report = wait_all_checkpointed(topics, TRUSTED)
    assert report.ok, [str(p) for p in report.problems]
    assert report.records == committed
    assert report.unverified_records == 0 and report.checkpoints >= len(topics.sources)
    again = verify(topics, TRUSTED)  # a second run, nothing changed: still OK
    assert again.ok and again.records == committed


def test_verify_names_the_record_changed_when_a_topic_is_deleted_and_recreated(kafka_bootstrap: str) -> None:
    topics, records = _checkpointed_plain_topic(kafka_bootstrap)
    tampered = [dataclasses.replace(r, value=_value(7, "edited")) if r.offset == 7 else r for r in records]
    _recreate(topics, tampered)
    report = verify(topics, TRUSTED)
    assert not report.ok
    [problem] = report.problems
    assert (problem.kind, problem.topic, problem.partition, problem.offset) == (
        "altered", topics.sources[0], 0, 7)
    assert f"{topics.sources[0]}/0 offset 7" in str(problem)


def test_verify_reports_a_gap_when_a_committed_record_is_missing(kafka_bootstrap: str) -> None:
    topics, records = _checkpointed_plain_topic(kafka_bootstrap)
    _recreate(topics, [r for r in records if r.offset != 5])
    report = verify(topics, TRUSTED)
    [problem] = report.problems
    assert (problem.kind, problem.offset) == ("missing", 5)
    assert "gone" in problem.detail


def test_verify_reports_a_truncated_log(kafka_bootstrap: str) -> None:
    topics, records = _checkpointed_plain_topic(kafka_bootstrap)
    _recreate(topics, records[:-2])
    [problem] = verify(topics, TRUSTED).problems
    assert (problem.kind, problem.offset) == ("truncated", 10)
    assert "ends at offset 9" in problem.detail


@pytest.mark.parametrize("claims_trusted_key", [True, False])
def test_verify_fails_on_a_checkpoint_signed_with_another_key(kafka_bootstrap: str,
                                                              claims_trusted_key: bool) -> None:
    topics, _ = _checkpointed_plain_topic(kafka_bootstrap, n=6)
    [genuine] = [c for r in read_all(kafka_bootstrap, topics.checkpoints)
                 if isinstance(c := decode(r.value), Checkpoint) and c.offset == 5]
    other = SigningKey(Ed25519PrivateKey.generate())
    forged = genuine.model_copy(update={"key_id": KEY.key_id if claims_trusted_key else other.key_id,
                                        "signature": ""})
    forged = forged.model_copy(update={"signature": other.sign(forged.signed_bytes())})
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    producer.send(topics.checkpoints, key=checkpoint_key(forged.topic, 0), value=forged.to_json()).get(10)
    producer.close()
    report = verify(topics, TRUSTED)
    assert not report.ok
    [problem] = report.problems
    assert problem.kind == ("bad_signature" if claims_trusted_key else "unknown_key")
    assert problem.topic == topics.sources[0] and problem.offset == 5


def test_the_checkpointer_resumes_its_chains_after_a_restart(kafka_bootstrap: str) -> None:
    topics = topic_set(kafka_bootstrap, sources=1, partitions=2)
    topic = topics.sources[0]
    produce_transactions(kafka_bootstrap, topic, [[(b"a", _value(i))] for i in range(6)], partition=0)
    with running_checkpointer(topics, KEY):
        assert wait_all_checkpointed(topics, TRUSTED).ok
    before = [c for r in read_all(kafka_bootstrap, topics.checkpoints)
              if isinstance(c := decode(r.value), Checkpoint)]
    produce_transactions(kafka_bootstrap, topic, [[(b"a", _value(i))] for i in range(6, 9)], partition=0)
    produce_transactions(kafka_bootstrap, topic, [[(b"b", _value(i))] for i in range(3)], partition=1)
    with running_checkpointer(topics, KEY):
        report = wait_all_checkpointed(topics, TRUSTED)
    assert report.ok and report.records == 12, report.problems
    after = [c for r in read_all(kafka_bootstrap, topics.checkpoints)
             if isinstance(c := decode(r.value), Checkpoint) and c not in before]
    resumed = [c for c in after if c.partition == 0]
    assert resumed and all(c.prev_offset >= max(b.offset for b in before) for c in resumed)
    assert resumed[-1].count == 9
