"""Test tiers and the real Kafka broker that integration and e2e tests share.

Each test gets the marker of its folder (`unit`, `integration`, `e2e`, `faults`), so `pytest -m unit`
runs the fast tier alone. The broker is the one `make run` uses (`devtools.broker.KafkaBroker`), started
once per session on free ports in a temporary directory, and only if some test asks for it: unit tests
may not. The fault tier starts brokers of its own, one per scenario (tests/faults/harness.py).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.broker import KafkaBroker, free_port
from services.infra.topics import ensure_topics

TIERS = ("unit", "integration", "e2e", "faults")
BROKER_FIXTURES = {"kafka_broker", "kafka_bootstrap", "broker_restarter", "own_kafka_bootstrap"}
_TESTS_ROOT = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", r"ignore:(read|open)_text is deprecated:DeprecationWarning")
    # The test brokers' setup listener is PLAINTEXT on 127.0.0.1, and some tests build production
    # settings: allow it (services.infra.kafka_security); tests of the refusal delete this variable.
    os.environ.setdefault("GVI_KAFKA_ALLOW_PLAINTEXT", "true")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    offenders = []
    for item in items:
        try:
            tier = Path(item.path).resolve().relative_to(_TESTS_ROOT).parts[0]
        except ValueError:
            continue
        if tier not in TIERS:
            continue
        item.add_marker(getattr(pytest.mark, tier))
        if tier == "unit" and BROKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            offenders.append(item.nodeid)
    if offenders:
        raise pytest.UsageError(f"unit tests must not use the Kafka broker: {', '.join(offenders)}")


@pytest.fixture(scope="session")
def kafka_broker(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[KafkaBroker]:
    """A real single-node broker with every topic created (3 partitions, replication factor 1)."""
    data_dir = tmp_path_factory.mktemp("kafka")
    broker = KafkaBroker(data_dir, free_port(), free_port())
    broker.start()
    try:
        ensure_topics(broker.bootstrap, partitions=3, replication_factor=1)
        yield broker
    finally:
        broker.stop()
        if request.session.testsfailed == 0:
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def own_kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of the test module's own, every topic created: for a module whose checks read a
    derived topic (`group-state`, `alerts`) that only its own processor may write."""
    data_dir = tmp_path_factory.mktemp("own-kafka")
    broker = KafkaBroker(data_dir, free_port(), free_port())
    broker.start()
    try:
        ensure_topics(broker.bootstrap, partitions=3, replication_factor=1)
        yield broker.bootstrap
    finally:
        broker.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    """`bootstrap_servers` for clients of the session's broker."""
    return kafka_broker.bootstrap


@pytest.fixture
def broker_restarter(kafka_broker: KafkaBroker) -> Iterator[KafkaBroker]:
    """The session's broker, for a test that stops, kills or restarts it; running again afterwards."""
    yield kafka_broker
    if not kafka_broker.running:
        kafka_broker.start()
