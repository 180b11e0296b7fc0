"""The broker's jars: Apache Kafka's own, resolved from Maven Central by `deploy/kafka/pom.xml` into
a cache outside the repository (`$GVI_CACHE_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/gvi`)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from devtools.broker.errors import BrokerError
from devtools.broker.processes import run_tool

__all__ = ["POM", "cache_root", "fetch_jars", "kafka_version"]

POM = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "pom.xml"
_COMPLETE_MARKER = ".complete"


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


def fetch_jars() -> Path:
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
    run_tool(command, f"`{' '.join(command)}`")
    if not (target / f"kafka_2.13-{version}.jar").is_file():
        raise BrokerError(f"Maven finished but {target} holds no kafka_2.13-{version}.jar")
