"""A real single-node Kafka broker (KRaft, no ZooKeeper, no Docker) for `make run`, tests and benchmarks.

The broker runs from Apache Kafka's own jars, resolved from Maven Central by `deploy/kafka/pom.xml` into
a cache outside the repository, so that every developer, the test suite and CI run the very broker
that production runs, never a mock of it.

    python -m devtools.broker fetch
    python -m devtools.broker run --data-dir var/kafka --port 9092 --controller-port 9093

Environment:
    GVI_CACHE_DIR   where the jars are cached (default: ${XDG_CACHE_HOME:-~/.cache}/gvi); they land in
                    <cache>/kafka-<version>/libs.
    JAVA_HOME       the JDK to run the broker with (default: `java` on PATH).

The broker process is `server.KafkaBroker`; its jars (`jars`), ports (`ports`), configuration beyond
the basics (`config`) and child processes (`processes`) have a module each; `__main__` is the CLI.
"""

from devtools.broker.config import SecureListener
from devtools.broker.errors import BrokerError
from devtools.broker.jars import kafka_version
from devtools.broker.ports import free_port
from devtools.broker.processes import die_with_parent
from devtools.broker.server import KafkaBroker

__all__ = ["BrokerError", "KafkaBroker", "SecureListener", "die_with_parent", "free_port", "kafka_version"]
