"""The `gvi-audit` console command: `cli.main`, with the shards' fork server started first.

A replay in shards (`sharding`) forks its shards from a server process that imports the audit code
(about 0.4 s). Started here, before this process imports that code itself, the two imports run side
by side on two cores, and the shards start that much sooner. Only `multiprocessing` is imported
before; whether the command will replay in shards is read from its arguments, and a server started
for a replay that then runs in one process (`--readers 1`, a log not keyed as the intake keys it)
only idles until the command ends.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import sys
from collections.abc import Sequence

__all__ = ["main", "start_fork_server"]

SHARD_MODULE = "services.audit.sharding"


def start_fork_server() -> multiprocessing.context.ForkServerContext:
    """Start the server process the shards are forked from, if it is not running. Forked from a
    process that has imported `sharding` and nothing more (no consumer, no thread to lose in a
    fork), the shards start at once, share the imported code's memory, and hash alike, as
    `ShardCheck` needs, with the server's hash seed (random, per server)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([SHARD_MODULE])
    multiprocessing.forkserver.ensure_running()
    return context


def replays_in_shards(argv: Sequence[str]) -> bool:
    """Whether `argv` asks for a replay that may run in shards (a guess from the words alone: the
    command decides for itself once it has parsed them)."""
    words = list(argv)
    if "replay" not in words or "--in-one-process" in words or "--help" in words or "-h" in words:
        return False
    for i, word in enumerate(words):
        if (word == "--readers" and words[i + 1:i + 2] == ["1"]) or word == "--readers=1":
            return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if replays_in_shards(args):
        start_fork_server()
    from services.audit.cli import main as run

    return run(args)
