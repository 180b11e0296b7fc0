"""The `gvi-audit` console command: `cli.main`, with the shards' fork server started first.

A replay in shards (`sharding`) forks its shards from a server process that imports the audit code
(about 0.4 s). Started here, before this process imports that code itself, the two imports run side
by side on two cores, and the shards start that much sooner. Only `multiprocessing` (and
`shard_server`, which imports nothing else) is imported before; whether the command will replay in
shards is read from its arguments, and a server started for a replay that then runs in one process
(`--readers 1`, a log not keyed as the intake keys it) only idles until the command ends.

This module is the top of the audit code's imports: it imports `cli` (when it runs it) and
`shard_server`, and nothing imports it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from services.audit.shard_server import start_fork_server

__all__ = ["main"]


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
