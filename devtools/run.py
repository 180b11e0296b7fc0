"""`make run`: the whole system on one machine, a broker, the topics and every service, in one terminal.

Starts a local Kafka broker in `var/kafka` (its data kept between runs) unless KAFKA_BOOTSTRAP_SERVERS
names one already, creates the topics, then runs each service as `python -m services.<name>` with
development settings and waits for its `/healthz`. Service output is shown prefixed by the service's
name. Ctrl-C (or SIGTERM) stops the services, then the broker; if any service dies, everything stops
and the exit code is 1.
"""

from __future__ import annotations

import http.client
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from devtools.broker import BrokerError, KafkaBroker, die_with_parent
from services.infra.kafka_security import PLAINTEXT, KafkaClientSettings
from services.infra.topics import TopicSetupError, ensure_topics

__all__ = ["SERVICES", "main", "service_env", "services_to_run"]

SERVICES: list[tuple[str, int]] = [
    ("dashboard", 8000), ("incidents", 8001), ("notifications", 8002), ("sanctions", 8003),
    ("sanctions.processor", 8004), ("audit.checkpointer", 8005),
]
"""`python -m services.<name>` and its port; the audit checkpointer signs with a key it generates under
var/audit in development."""
NO_API_DOCS = frozenset({"sanctions.processor", "audit.checkpointer"})  # /healthz, /readyz, /metrics only
BROKER_DIR = Path("var/kafka")
BROKER_PORT, CONTROLLER_PORT = 9092, 9093
HEALTH_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
_HOST = "127.0.0.1"
_PRINT_LOCK = threading.Lock()


class RunError(RuntimeError):
    """Something failed while bringing the system up or keeping it up; the message names what."""


class _StopRequested(Exception):
    """Raised in the main thread by the SIGINT/SIGTERM handler."""


def say(message: str, stream: IO[str] | None = None) -> None:
    with _PRINT_LOCK:
        print(message, file=stream or sys.stdout, flush=True)


def services_to_run(root: Path = Path()) -> list[tuple[str, int]]:
    """The services to start (those whose package exists under `root`)."""
    def runnable(name: str) -> bool:
        path = root / "services" / name.replace(".", "/")
        return (path / "__main__.py").is_file() or path.with_suffix(".py").is_file()

    return [(name, port) for name, port in SERVICES if runnable(name)]


def service_env(bootstrap: str, port: int, base: Mapping[str, str]) -> dict[str, str]:
    """A service's environment: development defaults that the caller's own settings override."""
    env = dict(base)
    env.setdefault("GVI_ENV", "development")
    env.setdefault("GVI_AGENCIES_FILE", "deploy/config/agencies.dev.toml")
    env.setdefault("GVI_USERS_FILE", "deploy/config/users.dev.toml")
    env.setdefault("GVI_DATA_ENTRY_KEYS_FILE", "deploy/config/data-entry-keys.dev.toml")
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        GVI_PORT=str(port),
        GVI_HOST=_HOST,
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class _Service:
    name: str
    port: int
    process: subprocess.Popen[str]
    pump: threading.Thread = field(init=False)

    @property
    def url(self) -> str:
        return f"http://{_HOST}:{self.port}"

    def start_pump(self, width: int) -> None:
        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                say(f"{self.name:<{width}} | {line.rstrip()}")

        self.pump = threading.Thread(target=pump, name=f"log-{self.name}", daemon=True)
        self.pump.start()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                say(f"{self.name} did not stop within {STOP_TIMEOUT_S:g}s; killing it")
                self.process.kill()
                self.process.wait()
        self.pump.join(timeout=2)


def _start_service(name: str, port: int, bootstrap: str, width: int) -> _Service:
    process = subprocess.Popen(
        [sys.executable, "-m", f"services.{name}"],
        env=service_env(bootstrap, port, os.environ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    service = _Service(name, port, process)
    service.start_pump(width)
    return service


def _exit_reason(code: int) -> str:
    if code < 0:
        return f"was killed by {signal.Signals(-code).name} (exit code {code})"
    return f"exited with code {code}"


def _healthy(port: int) -> bool:
    connection = http.client.HTTPConnection(_HOST, port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _wait_healthy(service: _Service, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not _healthy(service.port):
        code = service.process.poll()
        if code is not None:
            raise RunError(f"service {service.name} {_exit_reason(code)} before it became healthy")
        if time.monotonic() >= deadline:
            raise RunError(f"service {service.name} did not answer {service.url}/healthz within {timeout:g}s")
        time.sleep(0.3)


def _print_table(services: list[_Service], bootstrap: str) -> None:
    rows = [("service", "URL", "API docs")] + [
        (s.name, s.url, f"{s.url}/docs" if s.name not in NO_API_DOCS else "-") for s in services]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    say(
        "\nGVI is running (Kafka at "
        + bootstrap
        + "):\n\n"
        + "\n".join(lines)
        + "\n\nDevelopment API keys for each agency: see README. Ctrl-C stops everything.\n"
    )


def _watch(services: list[_Service], broker: KafkaBroker | None) -> None:
    while True:
        for service in services:
            code = service.process.poll()
            if code is not None:
                raise RunError(f"service {service.name} {_exit_reason(code)}; its output is above")
        if broker is not None and not broker.running:
            raise RunError(f"the Kafka broker stopped unexpectedly; see {broker.log_file}")
        time.sleep(0.5)


def _raise_stop(signum: int, frame: object) -> None:
    raise _StopRequested(signal.Signals(signum).name)


def main() -> int:
    """Run everything until Ctrl-C/SIGTERM (exit 0) or until something dies (exit 1)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    signal.signal(signal.SIGINT, _raise_stop)
    signal.signal(signal.SIGTERM, _raise_stop)
    broker: KafkaBroker | None = None
    services: list[_Service] = []
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        security = PLAINTEXT
        if bootstrap:
            # The services inherit the KAFKA_* connection settings; the topic set-up uses them too.
            security = KafkaClientSettings(GVI_ENV="development").kafka_security()
            say(f"using the Kafka broker at {bootstrap} (KAFKA_BOOTSTRAP_SERVERS, {security.describe()})")
        else:
            broker = KafkaBroker(BROKER_DIR, BROKER_PORT, CONTROLLER_PORT)
            say(f"starting a Kafka broker on 127.0.0.1:{BROKER_PORT}, data in {BROKER_DIR} ...")
            broker.start()
            bootstrap = broker.bootstrap
            say(f"Kafka broker ready (log: {broker.log_file})")
        created = ensure_topics(bootstrap, partitions=3, replication_factor=1, security=security)
        say(f"topics ready{' (created: ' + ', '.join(created) + ')' if created else ''}")
        to_run = services_to_run()
        width = max(len(name) for name, _ in to_run)
        for name, port in to_run:
            say(f"starting {name} on {_HOST}:{port} ...")
            services.append(_start_service(name, port, bootstrap, width))
        for service in services:
            _wait_healthy(service, HEALTH_TIMEOUT_S)
        _print_table(services, bootstrap)
        _watch(services, broker)
    except _StopRequested as stop:
        say(f"\n{stop.args[0]} received: stopping ...")
        return _shutdown(services, broker, 0)
    except (RunError, BrokerError, TopicSetupError, ValidationError) as error:
        say(f"error: {error}", sys.stderr)
        return _shutdown(services, broker, 1)
    except BaseException:
        _shutdown(services, broker, 1)
        raise
    return 0  # pragma: no cover  (_watch only returns by raising)


def _shutdown(services: list[_Service], broker: KafkaBroker | None, code: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for service in reversed(services):
        service.stop()
    if broker is not None and broker.running:
        say("stopping the Kafka broker ...")
        broker.stop()
    say("stopped." if code == 0 else "stopped everything after the error above.")
    return code


if __name__ == "__main__":
    sys.exit(main())
