"""`python -m devtools.broker fetch | run`: see the package's docstring."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

import devtools.broker
from devtools.broker.errors import BrokerError
from devtools.broker.server import KafkaBroker

__all__ = ["main"]


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
    summary = (devtools.broker.__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m devtools.broker", description=summary)
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
