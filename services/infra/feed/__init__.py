"""Reading topics without a consumer group: the one way the services and tools here read Kafka.

Every reader here reads the same way: `assign` every partition it wants, seek, no consumer group,
no commits, `read_committed` unless told otherwise (aiokafka). Two shapes:

* `read_to_end` reads partitions once, from their beginning (or given offsets) up to the end each
  had when the read began: one consistent cut of a log that keeps growing. It yields one partition's
  records at a time, in offset order, and gives up (`ReadStalled`) when the broker stops answering.
* `TopicFeed` reads topics from their beginning to their end (then `caught_up` is set) and keeps
  following them, as a task on the event loop. After a broken connection it resumes where it was,
  so no record is delivered twice. `wait_for_positions` and `read_past_now` wait until it has
  delivered what a caller needs.

aiokafka is the client for reading and writing events everywhere (see docs/architecture.md).
"""

from services.infra.feed.reads import (
    FEED_ERRORS,
    STALL_SECONDS,
    MissingTopic,
    ReadStalled,
    TopicPartition,
    end_offsets,
    partitions_of,
    read_to_end,
    reading_consumer,
)
from services.infra.feed.tail import Batch, TopicFeed

__all__ = ["FEED_ERRORS", "STALL_SECONDS", "Batch", "MissingTopic", "ReadStalled", "TopicFeed",
           "TopicPartition", "end_offsets", "partitions_of", "read_to_end", "reading_consumer"]
