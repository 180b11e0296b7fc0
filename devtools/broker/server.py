"""`KafkaBroker`: one KRaft broker+controller process, started, waited for and stopped."""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import subprocess
import time
import uuid
import weakref
from pathlib import Path
from types import TracebackType

from devtools.broker.config import SecureListener, log4j2_config, secure_properties
from devtools.broker.errors import BrokerError
from devtools.broker.jars import fetch_jars
from devtools.broker.ports import accepts_connections, port_in_use
from devtools.broker.processes import die_with_parent, run_tool

__all__ = ["KafkaBroker"]

_LOG_TAIL_LINES = 40


_RUNNING: weakref.WeakSet[KafkaBroker] = weakref.WeakSet()
_ATEXIT_ARMED = False


def _stop_all_at_exit() -> None:
    for broker in list(_RUNNING):
        broker.stop(timeout=10)


class KafkaBroker:
    """One KRaft broker+controller on 127.0.0.1, its data, config and logs all in `data_dir`.

    Restartable: `stop()` then `start()` on the same ports and directory keeps every record, which is
    what the durability and crash tests rely on. The JVM runs in its own session, so a terminal's
    Ctrl-C reaches the Python parent, which then stops the broker cleanly.
    """

    def __init__(self, data_dir: Path, port: int, controller_port: int, heap: str = "512m",
                 secure: SecureListener | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.secure = secure
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offsets: dict[Path, int] = {}

    @property
    def bootstrap(self) -> str:
        """The `bootstrap_servers` string for clients."""
        return f"127.0.0.1:{self.port}"

    @property
    def secure_bootstrap(self) -> str:
        """The `bootstrap_servers` string of the secure listener."""
        if self.secure is None:
            raise BrokerError("this broker has no secure listener")
        return f"127.0.0.1:{self.secure.port}"

    @property
    def log_file(self) -> Path:
        """The broker's own log (log4j2, INFO), kept in the data dir."""
        return self.data_dir / "broker.log"

    @property
    def console_file(self) -> Path:
        """The JVM's stdout/stderr: where JVM-level failures (bad flags, no Java) end up."""
        return self.data_dir / "broker.console.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process is not None else None

    @classmethod
    def fetch_jars(cls) -> Path:
        """Resolve the broker's jars once into the cache and return the directory that holds them
        (`jars.fetch_jars`)."""
        return fetch_jars()

    def start(self, timeout: float = 60) -> None:
        """Start the JVM and return once a client can list topics on it; raise BrokerError otherwise."""
        if self.running:
            return
        for port in (self.port, self.controller_port, *((self.secure.port,) if self.secure else ())):
            if port_in_use(port):
                raise BrokerError(
                    f"port {port} on 127.0.0.1 is already in use: another broker or program holds it. "
                    "Stop it, choose other ports, or point KAFKA_BOOTSTRAP_SERVERS at a running broker."
                )
        libs = self.fetch_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_offsets = {path: _size(path) for path in (self.console_file, self.log_file)}
        self._write_config()
        cluster_id = self._format_storage(libs)
        with open(self.console_file, "ab") as console:
            self._process = subprocess.Popen(
                [*self._java_command(libs), "kafka.Kafka", str(self.data_dir / "server.properties")],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        _track(self)
        try:
            self._wait_ready(cluster_id, timeout)
        except BrokerError:
            self.kill()
            raise
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30) -> None:
        """Shut down cleanly (SIGTERM: controlled shutdown, logs flushed), SIGKILL after `timeout` s."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None
        _RUNNING.discard(self)

    def kill(self) -> None:
        """SIGKILL the broker without a clean shutdown, as a crash would."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        self._process = None
        _RUNNING.discard(self)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (
            f"KafkaBroker({str(self.data_dir)!r}, port={self.port}, controller_port={self.controller_port})"
        )

    def _java_command(self, libs: Path) -> list[str]:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not java:
            raise BrokerError("Java 17+ is needed to run the Kafka broker: install a JDK or set JAVA_HOME")
        return [
            java,
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            f"{libs}/*",
        ]

    def _write_config(self) -> None:
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir / "data"),
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",
            "auto.create.topics.enable": "false",
        }
        if self.secure is not None:
            for key, value in secure_properties(self.secure).items():
                joined = key in {"listeners", "advertised.listeners", "listener.security.protocol.map"}
                properties[key] = f"{properties[key]},{value}" if joined else value
        lines = [f"{key}={value}" for key, value in properties.items()]
        (self.data_dir / "server.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (self.data_dir / "log4j2.properties").write_text(log4j2_config(self.log_file), encoding="utf-8")

    def _format_storage(self, libs: Path) -> str:
        """Format the log dir once and keep the cluster id beside it; later starts reuse both."""
        id_file = self.data_dir / "cluster.id"
        if (self.data_dir / "data" / "meta.properties").is_file():
            return _read_cluster_id(self.data_dir / "data" / "meta.properties")
        cluster_id = id_file.read_text(encoding="utf-8").strip() if id_file.is_file() else _new_cluster_id()
        id_file.write_text(cluster_id + "\n", encoding="utf-8")
        command = [
            *self._java_command(libs),
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.data_dir / "server.properties"),
        ]
        for name, password in (self.secure.scram_users.items() if self.secure else ()):
            command += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        run_tool(command, f"formatting Kafka storage in {self.data_dir}")
        return cluster_id

    def _wait_ready(self, cluster_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                code = self._process.returncode if self._process is not None else None
                raise BrokerError(self._failure(f"the broker exited with code {code} while starting"))
            if accepts_connections(self.port) and self._answers(cluster_id, deadline):
                return
            if time.monotonic() >= deadline:
                raise BrokerError(self._failure(f"the broker did not become ready within {timeout:g}s"))
            time.sleep(0.2)

    def _answers(self, cluster_id: str, deadline: float) -> bool:
        from kafka import KafkaAdminClient

        wait_ms = int(max(1.0, min(5.0, deadline - time.monotonic())) * 1000)
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap, bootstrap_timeout_ms=wait_ms, request_timeout_ms=wait_ms
            )
        except Exception:
            return False
        try:
            admin.list_topics()
            found = admin.describe_cluster().get("cluster_id")
        except Exception:
            return False
        finally:
            admin.close()
        if found != cluster_id:
            raise BrokerError(
                f"{self.bootstrap} answers with cluster id {found!r}, not this broker's {cluster_id!r}: "
                "another broker holds the port"
            )
        return True

    def _failure(self, what: str) -> str:
        parts = [f"{what} ({self!r})."]
        for path in (self.console_file, self.log_file):
            tail = _tail(path, self._log_offsets.get(path, 0))
            if tail:
                parts.append(f"--- last lines of {path} ---\n{tail}")
        return "\n".join(parts)


def _track(broker: KafkaBroker) -> None:
    global _ATEXIT_ARMED
    _RUNNING.add(broker)
    if not _ATEXIT_ARMED:
        atexit.register(_stop_all_at_exit)
        _ATEXIT_ARMED = True


def _new_cluster_id() -> str:
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cluster_id.startswith("-"):
            return cluster_id


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _tail(path: Path, since: int, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as file:
            file.seek(since if since <= _size(path) else 0)
            text = file.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _read_cluster_id(meta: Path) -> str:
    for line in meta.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return value.strip()
    raise BrokerError(f"{meta} has no cluster.id; delete {meta.parent.parent} to start afresh")
