"""Child processes (the broker's JVM, its one-shot tools) that die with this process."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

from devtools.broker.errors import BrokerError

__all__ = ["die_with_parent", "run_tool"]


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes a child get SIGTERM when this process dies, even by SIGKILL (Linux).

    Linux delivers the signal when the *thread* that forked the child exits, so it is only armed
    from the main thread; elsewhere (and off Linux) this returns None and `stop()`/atexit must do.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return _prctl_pdeathsig()


def run_tool(command: list[str], what: str) -> None:
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
