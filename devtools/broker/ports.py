"""TCP ports on 127.0.0.1: free ones to start brokers on, and whether one is taken or answers."""

from __future__ import annotations

import contextlib
import random
import socket
from pathlib import Path

from devtools.broker.errors import BrokerError

__all__ = ["accepts_connections", "free_port", "port_in_use"]


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


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def accepts_connections(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999
