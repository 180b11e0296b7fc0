"""The server process the replay's shards are forked from (`multiprocessing`'s fork server).

It sits below everything that starts it: `command` (the console entry point, before it imports the
rest of the audit code), `cli` (before a replay in shards) and `sharding` (which forks the shards),
and imports nothing but `multiprocessing`, so that none of them has to import another for it.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver

__all__ = ["SHARD_MODULE", "start_fork_server"]

SHARD_MODULE = "services.audit.sharding"
"""What the server imports before it forks anything: the shards' code and what it imports."""


def start_fork_server() -> multiprocessing.context.ForkServerContext:
    """Start the server process the shards are forked from, if it is not running. Forked from a
    process that has imported `sharding` and nothing more (no consumer, no thread to lose in a
    fork), the shards start at once, share the imported code's memory, and hash alike, as
    `ShardCheck` needs, with the server's hash seed (random, per server)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([SHARD_MODULE])
    multiprocessing.forkserver.ensure_running()
    return context
