"""`python -m services.dashboard`: the dashboard with uvicorn, settings from the environment."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

from services.infra.uvicorn_limits import uvicorn_options

if TYPE_CHECKING:
    from services.dashboard.settings import DashboardSettings


def server_options(settings: DashboardSettings) -> dict[str, Any]:
    """uvicorn's options. Behind a reverse proxy listed in `GVI_FORWARDED_ALLOW_IPS` the client's
    address is taken from `X-Forwarded-For` (the login limits are per address); otherwise it is the
    connection's own, and that header is ignored. The `GVI_HTTP_*` limits as every service's
    (services/infra/server_limits.py)."""
    return {"host": settings.host, "port": settings.port, "log_level": settings.log_level.lower(),
            "access_log": False, "proxy_headers": settings.forwarded_allow_ips is not None,
            "forwarded_allow_ips": settings.forwarded_allow_ips, "server_header": False,
            "timeout_graceful_shutdown": 5, **uvicorn_options(settings)}


def main() -> int:
    from pydantic import ValidationError

    from services.dashboard.app import create_app
    from services.dashboard.auth import ConfigError
    from services.dashboard.settings import DashboardSettings
    from services.infra.operator_endpoints import MetricsAccessError

    try:
        settings = DashboardSettings()  # required fields come from the environment
        logging.basicConfig(level=settings.log_level,
                            format="%(asctime)s dashboard %(levelname)s %(name)s: %(message)s")
        if settings.log_level.upper() != "DEBUG":
            logging.getLogger("aiokafka").setLevel(logging.WARNING)
        app = create_app(settings)
    except (ValidationError, ConfigError, MetricsAccessError) as exc:
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

    Server(uvicorn.Config(app, **server_options(settings))).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
