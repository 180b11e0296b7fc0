"""The audit benchmark's baseline as a command of its own: one raw kafka-python consumer reads every
record of the source topics and counts them.

`python -m devtools.bench.raw_read BOOTSTRAP` prints the count. The benchmark times it the way it
times `gvi-audit`: the whole process, from its start to its exit (interpreter, imports, connecting,
metadata, end offsets, the read), so that neither figure leaves out a start the other counts. It
imports kafka-python and nothing else.
"""

from __future__ import annotations

import sys

from kafka import KafkaConsumer, TopicPartition

TOPICS = ("incidents", "notifications", "sanctions")


def read_all(bootstrap: str) -> int:
    """How many records the source topics hold, read from the beginning to their ends."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             isolation_level="read_committed", fetch_max_bytes=64 * 1024 * 1024,
                             max_partition_fetch_bytes=16 * 1024 * 1024, max_poll_records=20_000,
                             check_crcs=False, metrics_enabled=False)
    partitions = [TopicPartition(t, p) for t in TOPICS for p in sorted(consumer.partitions_for_topic(t))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    count = 0
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        for records in consumer.poll(timeout_ms=500).values():
            count += len(records)
    consumer.close()
    return count


if __name__ == "__main__":
    print(read_all(sys.argv[1]))
