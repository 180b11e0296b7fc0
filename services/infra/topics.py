"""Create the Kafka topics of `services.contracts.topics.ALL_TOPICS`, idempotently.

Topics are created explicitly (brokers run with `auto.create.topics.enable=false`), so that source
topics get `retention.ms=-1` and `group-state` gets compaction: a topic auto-created by a producer
would silently get the broker's default seven-day retention, and the evidence with it.

    python -m services.infra.topics --bootstrap kafka:9092 --partitions 3 --replication-factor 3

Environment (defaults for the options): KAFKA_BOOTSTRAP_SERVERS, GVI_TOPIC_PARTITIONS (3),
GVI_TOPIC_REPLICATION_FACTOR (1), GVI_TOPIC_MIN_INSYNC_REPLICAS (unset: the broker's default);
GVI_ENV and the connection settings of `services.infra.kafka_security` (KAFKA_SECURITY_PROTOCOL, ...):
the admin user needs Create, Describe and DescribeConfigs on the topics.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any

from services.contracts.topics import ALL_TOPICS, TopicSpec
from services.infra.kafka_security import PLAINTEXT, KafkaClientSettings, KafkaSecurity

__all__ = ["TopicSetupError", "ensure_topics", "main"]

log = logging.getLogger(__name__)

_TOPIC_ALREADY_EXISTS = 36
_RETRY_PAUSE_S = 0.5


class TopicSetupError(RuntimeError):
    """The topics could not be created: the broker was unreachable or refused a topic (bad settings)."""


def ensure_topics(
    bootstrap: str,
    *,
    partitions: int,
    replication_factor: int,
    min_insync_replicas: int | None = None,
    timeout: float = 30,
    security: KafkaSecurity = PLAINTEXT,
) -> list[str]:
    """Create every topic the system uses, with its config; return the names created just now.

    Topics that already exist are left as they are (their partition count and config are not
    changed), so this is safe to run on every start. Waits up to `timeout` seconds for the broker
    to become reachable and for new topics to have leaders, so producers can use them at once.
    """
    if partitions < 1 or replication_factor < 1:
        raise ValueError("partitions and replication_factor must be at least 1")
    if min_insync_replicas is not None and not 1 <= min_insync_replicas <= replication_factor:
        raise ValueError("min_insync_replicas must be between 1 and replication_factor")
    requests = {
        spec.name: _creation_request(spec, partitions, replication_factor, min_insync_replicas)
        for spec in ALL_TOPICS
    }
    deadline = time.monotonic() + timeout
    admin = _connect(bootstrap, deadline, security)
    try:
        created = _create(admin, requests, deadline)
        if created:
            admin.wait_for_topics(created, timeout_ms=_remaining_ms(deadline))
        _warn_on_drift(admin, {name: r["configs"] for name, r in requests.items() if name not in created})
    finally:
        admin.close()
    return created


def _creation_request(
    spec: TopicSpec, partitions: int, replication_factor: int, min_insync_replicas: int | None
) -> dict[str, Any]:
    configs = dict(spec.config)
    if min_insync_replicas is not None:
        configs["min.insync.replicas"] = str(min_insync_replicas)
    return {"num_partitions": spec.partitions or partitions, "replication_factor": replication_factor,
            "configs": configs}


def _remaining_ms(deadline: float) -> int:
    return max(1000, int((deadline - time.monotonic()) * 1000))


def _connect(bootstrap: str, deadline: float, security: KafkaSecurity) -> Any:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        return KafkaAdminClient(
            bootstrap_servers=bootstrap,
            client_id="gvi-topic-setup",
            bootstrap_timeout_ms=_remaining_ms(deadline),
            **security.kafka_python(),
        )
    except KafkaError as error:
        raise TopicSetupError(f"no Kafka broker reachable at {bootstrap}: {error}") from error


def _create(admin: Any, requests: dict[str, dict[str, Any]], deadline: float) -> list[str]:
    """Create what is missing, retrying the errors a cluster that is still starting returns."""
    from kafka.errors import KafkaError, for_code

    created: list[str] = []
    pending = dict(requests)
    while True:
        try:
            response = admin.create_topics(pending, timeout_ms=_remaining_ms(deadline), raise_errors=False)
        except KafkaError as error:
            failures = {name: f"{type(error).__name__}: {error}" for name in pending}
            retriable = bool(getattr(error, "retriable", False))
        else:
            failures, retriable = {}, True
            for result in response["topics"]:
                name, code = result["name"], result["error_code"]
                if code == 0:
                    created.append(name)
                    log.info("created topic %s", name)
                elif code != _TOPIC_ALREADY_EXISTS:
                    error_type = for_code(code)
                    failures[name] = f"{error_type.__name__}: {result.get('error_message') or ''}".strip()
                    retriable = retriable and bool(getattr(error_type, "retriable", False))
        if not failures:
            return created
        if not retriable or time.monotonic() >= deadline:
            details = "; ".join(f"{name}: {why}" for name, why in failures.items())
            raise TopicSetupError(f"could not create Kafka topics ({details})")
        pending = {name: requests[name] for name in failures}
        time.sleep(_RETRY_PAUSE_S)


def _warn_on_drift(admin: Any, expected: dict[str, dict[str, str]]) -> None:
    """Log topics that existed before with a config other than the contract's (e.g. finite retention)."""
    from kafka.admin import ConfigResource, ConfigResourceType

    if not expected:
        return
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in expected]
    actual = admin.describe_configs(resources).get("topic", {})
    for name, configs in expected.items():
        for key, value in configs.items():
            found = actual.get(name, {}).get(key, {}).get("value")
            if found != value:
                log.warning("topic %s exists with %s=%s, but the contract wants %s", name, key, found, value)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m services.infra.topics", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--bootstrap",
        default=env.get("KAFKA_BOOTSTRAP_SERVERS"),
        help="host:port[,host:port...] (default: $KAFKA_BOOTSTRAP_SERVERS)",
    )
    parser.add_argument("--partitions", type=int, default=int(env.get("GVI_TOPIC_PARTITIONS", "3")))
    parser.add_argument(
        "--replication-factor", type=int, default=int(env.get("GVI_TOPIC_REPLICATION_FACTOR", "1"))
    )
    min_isr = env.get("GVI_TOPIC_MIN_INSYNC_REPLICAS")
    parser.add_argument("--min-insync-replicas", type=int, default=int(min_isr) if min_isr else None)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the broker")
    args = parser.parse_args(argv)
    if not args.bootstrap:
        parser.error("no broker given: pass --bootstrap or set KAFKA_BOOTSTRAP_SERVERS")
    return args


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: create the topics, print what was created, exit 1 with the reason on failure."""
    from pydantic import ValidationError

    args = _parse(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        security = KafkaClientSettings().kafka_security()
    except ValidationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    logging.getLogger("kafka").setLevel(
        logging.CRITICAL
    )  # retries while waiting; failures are reported below
    try:
        created = ensure_topics(
            args.bootstrap,
            partitions=args.partitions,
            replication_factor=args.replication_factor,
            min_insync_replicas=args.min_insync_replicas,
            timeout=args.timeout,
            security=security,
        )
    except (TopicSetupError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    existing = sorted({spec.name for spec in ALL_TOPICS} - set(created))
    print(f"created: {', '.join(created) or '-'}; already present: {', '.join(existing) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
