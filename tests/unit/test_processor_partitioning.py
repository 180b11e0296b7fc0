"""The processor's Kafka adapter for partitions: the same partitions as the hand-written murmur2 it
replaced (kept here as the reference), and as aiokafka's and kafka-python's default partitioners."""

from __future__ import annotations

import struct

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from services.contracts.alerts import AlertKind, alert_id, alert_key
from services.contracts.envelope import canonical_json
from services.contracts.group_state_records import (
    baseline_key,
    case_key,
    group_key,
    unresolved_key,
    unwarned_key,
)
from services.sanctions.processor.partitioning import group_partition, key_partition, partition_of

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def _old_murmur2(data: bytes) -> int:
    """The hand-written murmur2 that `services/sanctions/domain/records.py` had, verbatim."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    words = length // 4
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        at = length & ~3
        if tail >= 3:
            h ^= data[at + 2] << 16
        if tail >= 2:
            h ^= data[at + 1] << 8
        h ^= data[at]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def _old_key_partition(key: bytes, partitions: int) -> int:
    return (_old_murmur2(key) & 0x7FFFFFFF) % partitions


def _old_partition_of(key: bytes, partitions: int) -> int:
    import json
    parts = json.loads(key)
    anchor = parts[1] if parts[0] != "unresolved" else canonical_json(parts[1:]).decode()
    return _old_key_partition(anchor.encode(), partitions)


@settings(max_examples=500)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=64))
def test_a_key_goes_where_the_hand_written_murmur2_and_kafkas_partitioners_sent_it(
        key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    expected = _old_key_partition(key, partitions)
    assert key_partition(key, partitions) == expected
    assert DefaultPartitioner()(key, every, every) == expected
    assert (kafka_python_murmur2(key) & 0x7FFFFFFF) % partitions == expected


def test_many_alert_and_group_keys_keep_their_partitions() -> None:
    for n in range(3000):
        key = alert_key(alert_id(list(AlertKind)[n % len(AlertKind)], f"g{n}", f"i{n}"))
        for partitions in (1, 3, 6, 12):
            assert key_partition(key, partitions) == _old_key_partition(key, partitions)
            group_id = f"g-{n}-ö"
            assert group_partition(group_id, partitions) == _old_key_partition(group_id.encode(), partitions)


@given(st.text(min_size=1), st.text(), st.text(), st.integers(min_value=1, max_value=24))
def test_a_group_state_record_goes_to_its_groups_partition(
        group_id: str, a: str, b: str, partitions: int) -> None:
    keys = [group_key(group_id), case_key(group_id, a), unwarned_key(group_id, a),
            baseline_key(group_id, a, b)]
    assert {partition_of(key, partitions) for key in keys} == {group_partition(group_id, partitions)}
    for key in [*keys, unresolved_key(a, b)]:
        assert partition_of(key, partitions) == _old_partition_of(key, partitions)


def test_a_groups_records_share_its_partition() -> None:
    for group_id in ("norra", "sodra", "g-17", "ö"):
        partitions = {partition_of(key, 6) for key in (group_key(group_id), case_key(group_id, "i9"))}
        assert len(partitions) == 1
