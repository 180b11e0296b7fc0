"""`python -m services.sanctions.processor`: run one processor worker (settings from the environment).

Before faust starts, the source topics must exist (their partition count sizes the fact store's
changelog, which must match): a missing topic or an unreachable broker is one clear line and exit 2.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from services.infra.kafka_security import PLAINTEXT, KafkaSecurity
from services.sanctions.processor.settings import ProcessorSettings

SETUP_TIMEOUT_S = 30.0
GC_THRESHOLDS = (100_000, 50, 100)
"""The ledger is millions of long-lived objects that make few cycles: with Python's default
thresholds (700, 10, 10) the collector walks all of them again and again, which cost a third of the
rules' time at 100,000 events (`make bench`). Collections stay on, only rarer."""
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


def main() -> int:
    try:
        settings = ProcessorSettings()
    except ValidationError as exc:
        print(f"processor: cannot start: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s processor %(levelname)s %(name)s: %(message)s")
    if settings.log_level.upper() != "DEBUG":
        for noisy in ("aiokafka", "faust", "mode"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    from services.sanctions.processor.app import SOURCE_TOPICS

    try:
        partitions = asyncio.run(source_partitions(settings.kafka_bootstrap_servers, SOURCE_TOPICS,
                                                   settings.kafka_security()))
    except (KafkaError, OSError, TimeoutError, RuntimeError) as exc:
        print(f"processor: cannot start: {exc or type(exc).__name__}", file=sys.stderr)
        return 2

    import faust

    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)

    from services.sanctions.processor.app import HttpService, Processor, PublishingService
    from services.sanctions.processor.metrics import ProcessorMetrics

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    processor = Processor(settings, partitions, ProcessorMetrics())
    worker = faust.Worker(processor.app, HttpService(processor), PublishingService(processor),
                          loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
