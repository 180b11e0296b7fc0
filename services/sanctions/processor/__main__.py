"""`python -m services.sanctions.processor`: run one processor worker (settings from the environment).

Before faust starts, the source topics must exist (their partition count sizes the fact store's
changelog, which must match), and the worker creates its fact store's changelog topic itself, with
that count, and waits for it to have leaders: faust would otherwise create it while it starts, and
its table recovery could find it without partitions yet (`PartitionsMismatch`, a crash). A missing
source topic, a changelog with another partition count or an unreachable broker is one clear line
and exit 2.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys

from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.structs import TopicPartition
from pydantic import ValidationError

from services.infra.kafka_security import PLAINTEXT, KafkaSecurity
from services.infra.operator_endpoints import MetricsAccess, MetricsAccessError
from services.sanctions.processor.settings import ProcessorSettings

SETUP_TIMEOUT_S = 30.0
GC_THRESHOLDS = (100_000, 50, 100)
"""The ledger is millions of long-lived objects that make few cycles: with Python's default
thresholds (700, 10, 10) the collector walks all of them again and again, which cost a third of the
rules' time at 100,000 events (`make bench`). Collections stay on, only rarer; and what each batch
leaves in the ledger is frozen out of them (`heap.keep_out_of_collections`)."""
SWITCH_INTERVAL_S = 0.05
"""How long a thread keeps the GIL while another waits for it (Python's default: 5 ms). faust's
consumer runs in a thread of its own, which wants the GIL whenever a fetch comes back, while the
rules run for tens of milliseconds per batch in the main thread: at 5 ms they were cut up several
times a batch. 50 ms gave 1% to 13% more events/s in five runs beside the default (about 6% on
average; 100,000 and 200,000 events); the consumer's heartbeats (every 3 s) and the 500 ms latency
target have room for it (p99 97 ms in the benchmark's latency run)."""


async def source_partitions(bootstrap: str, topics: tuple[str, ...],
                            security: KafkaSecurity = PLAINTEXT) -> int:
    """The partition count the source topics share (they must share one)."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **security.aiokafka())
    try:
        await asyncio.wait_for(client.bootstrap(), SETUP_TIMEOUT_S)
        await client.force_metadata_update()
        counts = {}
        for topic in topics:
            partitions = client.cluster.partitions_for_topic(topic)
            if not partitions:
                raise RuntimeError(f"topic {topic!r} does not exist: create the topics first "
                                   "(python -m services.infra.topics)")
            counts[topic] = len(partitions)
    finally:
        await client.close()
    if len(set(counts.values())) != 1:
        raise RuntimeError(f"the source topics must have the same number of partitions, not {counts}")
    return next(iter(counts.values()))


async def ensure_changelog(bootstrap: str, topic: str, partitions: int, replication_factor: int,
                           security: KafkaSecurity = PLAINTEXT) -> bool:
    """Create the fact store's changelog topic (compacted, `partitions` partitions) unless it exists,
    and wait until every partition has a leader; True if it was created now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **security.aiokafka())
    await asyncio.wait_for(admin.start(), SETUP_TIMEOUT_S)
    try:
        response = await admin.create_topics([NewTopic(topic, partitions, replication_factor,
                                                        topic_configs={"cleanup.policy": "compact"})])
        [(_, code, *message)] = response.topic_errors
        created: bool = code == 0
        if code not in (0, TopicAlreadyExistsError.errno):
            raise RuntimeError(f"could not create the changelog topic {topic!r}: error {code} {message}")
    finally:
        await admin.close()
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000, **security.aiokafka())
    try:
        await asyncio.wait_for(client.bootstrap(), SETUP_TIMEOUT_S)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETUP_TIMEOUT_S
        while True:
            metadata = await client.fetch_all_metadata()
            have = metadata.partitions_for_topic(topic) or set()
            if have and len(have) != partitions and not created:
                raise RuntimeError(f"the changelog topic {topic!r} has {len(have)} partitions, the source "
                                   f"topics {partitions}: delete it (the worker rebuilds it from the "
                                   "source topics) or give this worker another GVI_PROCESSOR_ID")
            if len(have) == partitions and all(
                    metadata.leader_for_partition(TopicPartition(topic, p)) not in (None, -1) for p in have):
                return created
            if loop.time() > deadline:
                raise RuntimeError(f"the changelog topic {topic!r} has no leaders yet")
            await asyncio.sleep(0.2)
    finally:
        await client.close()


def main() -> int:
    try:
        settings = ProcessorSettings()
        access = MetricsAccess.configure(env=settings.env, token_file=settings.metrics_token_file)
    except (ValidationError, MetricsAccessError) as exc:
        print(f"processor: cannot start: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s processor %(levelname)s %(name)s: %(message)s")
    if settings.log_level.upper() != "DEBUG":
        for noisy in ("aiokafka", "faust", "mode"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    from services.sanctions.processor.app import FACTS_TABLE, SOURCE_TOPICS
    from services.sanctions.processor.faust_adapter import changelog_topic_name

    async def prepare() -> int:
        partitions = await source_partitions(settings.kafka_bootstrap_servers, SOURCE_TOPICS,
                                             settings.kafka_security())
        await ensure_changelog(settings.kafka_bootstrap_servers,
                               changelog_topic_name(settings.app_id, FACTS_TABLE), partitions,
                               settings.replication_factor, settings.kafka_security())
        return partitions

    try:
        partitions = asyncio.run(prepare())
    except (KafkaError, OSError, TimeoutError, RuntimeError) as exc:
        print(f"processor: cannot start: {exc or type(exc).__name__}", file=sys.stderr)
        return 2

    import faust

    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)

    from services.sanctions.processor.app import Processor
    from services.sanctions.processor.metrics import ProcessorMetrics
    from services.sanctions.processor.service import HttpService, PublishingService

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    processor = Processor(settings, partitions, ProcessorMetrics())
    worker = faust.Worker(processor.app, HttpService(processor, access), PublishingService(processor),
                          loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
