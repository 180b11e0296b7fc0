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
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import ctypes
import fcntl
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = ["BrokerError", "KafkaBroker", "SecureListener", "die_with_parent", "free_port", "kafka_version"]

POM = Path(__file__).resolve().parent.parent / "deploy" / "kafka" / "pom.xml"
_COMPLETE_MARKER = ".complete"
_LOG_TAIL_LINES = 40


class BrokerError(RuntimeError):
    """The broker could not be fetched, started or stopped; the message says what to do about it."""


def kafka_version(pom: Path = POM) -> str:
    """The Kafka version pinned in the pom, which names the jar cache so versions never mix."""
    match = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom.read_text(encoding="utf-8"))
    if match is None:
        raise BrokerError(f"{pom} has no <kafka.version> property")
    return match.group(1)


def cache_root() -> Path:
    """`$GVI_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/gvi`: outside the repo, shared by worktrees."""
    explicit = os.environ.get("GVI_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "gvi"


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _run_tool(command: list[str], what: str) -> None:
    """Run a one-shot JVM or Maven command that dies with us; BrokerError with its output if it fails."""
    result = subprocess.run(
        command,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=die_with_parent(),
    )
    if result.returncode != 0:
        raise BrokerError(f"{what} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (tests start brokers side by side).

    Chosen below the kernel's ephemeral range: a client that keeps reconnecting to a stopped server
    on an ephemeral port can be handed that very port as its own source port and connect to itself
    (TCP simultaneous open), which looks like the server answering.
    """
    low, high = _ephemeral_range()
    candidates = [p for p in range(10000, 65535) if not low <= p <= high]
    for port in random.sample(candidates, 200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise BrokerError("no free TCP port outside the ephemeral range")


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def _prctl_pdeathsig() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_pdeathsig() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)

    return set_pdeathsig


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes a child get SIGTERM when this process dies, even by SIGKILL (Linux).

    Linux delivers the signal when the *thread* that forked the child exits, so it is only armed
    from the main thread; elsewhere (and off Linux) this returns None and `stop()`/atexit must do.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return _prctl_pdeathsig()


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


@dataclass(frozen=True)
class SecureListener:
    """A second, authenticated listener beside PLAINTEXT (which stays for setup and readiness).

    `scram_users` (name -> password) are SCRAM-SHA-512 users stored when the storage is formatted
    (KRaft has no other way to have them before the first start); with users the listener speaks
    SASL_SSL when `keystore` is given, else SASL_PLAINTEXT; without users, SSL. `keystore` is a PEM
    file holding the broker's unencrypted PKCS #8 private key and its certificate chain.
    `super_users` bypass ACLs; when `authorizer` is set the broker checks ACLs (StandardAuthorizer)
    for every principal but those and ANONYMOUS (the PLAINTEXT listener's setup clients).
    """

    port: int
    scram_users: Mapping[str, str] = field(default_factory=dict)
    keystore: Path | None = None
    authorizer: bool = False
    super_users: tuple[str, ...] = ()

    @property
    def protocol(self) -> str:
        if self.scram_users:
            return "SASL_SSL" if self.keystore is not None else "SASL_PLAINTEXT"
        if self.keystore is None:
            raise BrokerError("a secure listener needs SCRAM users, a keystore or both")
        return "SSL"


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
        """Resolve the broker's jars once into the cache and return the directory that holds them.

        Safe to call from concurrent and interrupted runs: one process downloads under a file lock
        into a temporary directory that is renamed into place only once it is complete.
        """
        version = kafka_version()
        home = cache_root() / f"kafka-{version}"
        libs = home / "libs"
        if (libs / _COMPLETE_MARKER).is_file():
            return libs
        home.mkdir(parents=True, exist_ok=True)
        with open(home / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (libs / _COMPLETE_MARKER).is_file():
                return libs
            for stale in home.glob(".libs-*"):
                shutil.rmtree(stale, ignore_errors=True)
            if libs.exists():
                shutil.rmtree(libs)
            staging = Path(tempfile.mkdtemp(prefix=".libs-", dir=home))
            try:
                _download_jars(staging, version)
                (staging / _COMPLETE_MARKER).write_text(version + "\n", encoding="utf-8")
                staging.chmod(0o755)
                os.rename(staging, libs)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return libs

    def start(self, timeout: float = 60) -> None:
        """Start the JVM and return once a client can list topics on it; raise BrokerError otherwise."""
        if self.running:
            return
        for port in (self.port, self.controller_port, *((self.secure.port,) if self.secure else ())):
            if _port_in_use(port):
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
            for key, value in _secure_properties(self.secure).items():
                joined = key in {"listeners", "advertised.listeners", "listener.security.protocol.map"}
                properties[key] = f"{properties[key]},{value}" if joined else value
        lines = [f"{key}={value}" for key, value in properties.items()]
        (self.data_dir / "server.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (self.data_dir / "log4j2.properties").write_text(_log4j2_config(self.log_file), encoding="utf-8")

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
        _run_tool(command, f"formatting Kafka storage in {self.data_dir}")
        return cluster_id

    def _wait_ready(self, cluster_id: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                code = self._process.returncode if self._process is not None else None
                raise BrokerError(self._failure(f"the broker exited with code {code} while starting"))
            if _accepts_connections(self.port) and self._answers(cluster_id, deadline):
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


def _secure_properties(secure: SecureListener) -> dict[str, str]:
    """server.properties entries of the SECURE listener (and of the authorizer, if asked for)."""
    properties = {
        "listeners": f"SECURE://127.0.0.1:{secure.port}",
        "advertised.listeners": f"SECURE://127.0.0.1:{secure.port}",
        "listener.security.protocol.map": f"SECURE:{secure.protocol}",
    }
    if secure.scram_users:
        properties.update({
            "listener.name.secure.sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.secure.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
        })
    if secure.keystore is not None:
        properties.update({
            "listener.name.secure.ssl.keystore.type": "PEM",
            "listener.name.secure.ssl.keystore.location": str(secure.keystore),
        })
    if secure.authorizer:
        supers = ";".join(f"User:{name}" for name in ("ANONYMOUS", *secure.super_users))
        properties.update({
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": supers,
        })
    return properties


def _track(broker: KafkaBroker) -> None:
    global _ATEXIT_ARMED
    _RUNNING.add(broker)
    if not _ATEXIT_ARMED:
        atexit.register(_stop_all_at_exit)
        _ATEXIT_ARMED = True


def _accepts_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def _read_cluster_id(meta: Path) -> str:
    for line in meta.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return value.strip()
    raise BrokerError(f"{meta} has no cluster.id; delete {meta.parent.parent} to start afresh")


def _download_jars(target: Path, version: str) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (`mvn`) is needed once to fetch the Kafka broker jars: install it")
    print(f"fetching Apache Kafka {version} broker jars into {target.parent} ...", file=sys.stderr)
    command = [
        mvn,
        "-q",
        "-B",
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={target}",
        "-f",
        str(POM),
    ]
    _run_tool(command, f"`{' '.join(command)}`")
    if not (target / f"kafka_2.13-{version}.jar").is_file():
        raise BrokerError(f"Maven finished but {target} holds no kafka_2.13-{version}.jar")


def _log4j2_config(log_file: Path) -> str:
    quiet = [
        "kafka.request.logger",
        "kafka.network.RequestChannel$",
        "org.apache.kafka.common.utils.AppInfoParser",
    ]
    lines = [
        "status = warn",
        "shutdownHook = disable",
        "appender.file.type = RollingFile",
        "appender.file.name = file",
        f"appender.file.fileName = {log_file}",
        f"appender.file.filePattern = {log_file}.%i",
        "appender.file.layout.type = PatternLayout",
        "appender.file.layout.pattern = [%d] %p %m (%c)%n",
        "appender.file.policies.type = Policies",
        "appender.file.policies.size.type = SizeBasedTriggeringPolicy",
        "appender.file.policies.size.size = 10MB",
        "appender.file.strategy.type = DefaultRolloverStrategy",
        "appender.file.strategy.max = 3",
        "rootLogger.level = info",
        "rootLogger.appenderRef.file.ref = file",
    ]
    for index, name in enumerate(quiet):
        lines += [f"logger.quiet{index}.name = {name}", f"logger.quiet{index}.level = warn"]
    return "\n".join(lines) + "\n"


def _run_foreground(broker: KafkaBroker) -> int:
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    broker.start()
    print(f"Kafka broker ready on {broker.bootstrap} (log: {broker.log_file}); Ctrl-C stops it.", flush=True)
    while not stop.wait(0.5):
        if not broker.running:
            print(broker._failure("the broker exited unexpectedly"), file=sys.stderr)
            broker.stop()
            return 1
    print("stopping the Kafka broker ...", flush=True)
    broker.stop()
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.broker", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help="resolve the broker jars into the cache and print where they are")
    run = commands.add_parser("run", help="run a broker in the foreground until Ctrl-C")
    run.add_argument("--data-dir", type=Path, default=Path("var/kafka"))
    run.add_argument("--port", type=int, default=9092)
    run.add_argument("--controller-port", type=int, default=9093)
    run.add_argument("--heap", default="512m")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; see the module docstring."""
    args = _parse(argv)
    try:
        if args.command == "fetch":
            print(KafkaBroker.fetch_jars())
            return 0
        return _run_foreground(KafkaBroker(args.data_dir, args.port, args.controller_port, args.heap))
    except BrokerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
