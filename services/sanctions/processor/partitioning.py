"""Which partition of a derived topic a record goes to: Kafka's default partitioner, from aiokafka.

Every record of a group on `group-state` goes to the partition Kafka's default partitioner (murmur2
of the key bytes) gives the group's id, so a group's records share the partition its group-keyed
source events use and stay in the order they were produced; an unresolved sanction's goes by its
(source, id). An alert goes to the partition of its key (`services.contracts.alerts.alert_key`), so an
alert and its withdrawal share one. The keys are the output contract's
(`services.contracts.group_state_records`); the partitioner is the client library's.
"""

from __future__ import annotations

from functools import lru_cache

import orjson
from aiokafka.partitioner import DefaultPartitioner

from services.contracts.envelope import canonical_json

__all__ = ["group_partition", "key_partition", "partition_of"]

_PARTITIONER = DefaultPartitioner()


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record with this key, of `partitions`."""
    every = range(partitions)
    return int(_PARTITIONER(key, every, every))


@lru_cache(maxsize=1 << 16)
def group_partition(group_id: str, partitions: int) -> int:
    """The partition of a group's records (`partition_of` of any of them)."""
    return key_partition(group_id.encode(), partitions)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition of a `group-state` record: its group's; an unresolved sanction's by its
    (source, id)."""
    parts = orjson.loads(key)
    anchor = parts[1] if parts[0] != "unresolved" else canonical_json(parts[1:]).decode()
    return group_partition(anchor, partitions)
