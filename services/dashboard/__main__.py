"""`python -m services.dashboard`: the dashboard with uvicorn, settings from the environment."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from types import FrameType

import uvicorn


def main() -> int:
    from pydantic import ValidationError

    from services.dashboard.app import create_app
    from services.dashboard.auth import ConfigError
    from services.dashboard.settings import DashboardSettings

    try:
        settings = DashboardSettings()  # required fields come from the environment
        logging.basicConfig(level=settings.log_level,
                            format="%(asctime)s dashboard %(levelname)s %(name)s: %(message)s")
        if settings.log_level.upper() != "DEBUG":
            logging.getLogger("aiokafka").setLevel(logging.WARNING)
        app = create_app(settings)
    except (ValidationError, ConfigError) as exc:
        print(f"dashboard: cannot start: {exc}", file=sys.stderr)
        return 2
    hub = app.state.dashboard.hub

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # End the live streams first: uvicorn waits for open connections before the app's own
            # shutdown, and a stream never ends by itself; the pages reconnect to the next process.
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().call_soon_threadsafe(hub.close)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                            access_log=False, proxy_headers=False, server_header=False,
                            timeout_graceful_shutdown=5)
    Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
