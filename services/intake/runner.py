"""`python -m services.<name>`: run one intake service with uvicorn, settings from the environment."""

from __future__ import annotations

import logging
import sys

import uvicorn

from services.contracts import Service
from services.infra.operator_endpoints import MetricsAccessError
from services.infra.uvicorn_limits import uvicorn_options
from services.intake.agencies import ConfigError
from services.privacy.claims import MasterKeyError

DEFAULT_PORTS = {Service.INCIDENTS: 8001, Service.NOTIFICATIONS: 8002, Service.SANCTIONS: 8003}


def run(service: Service) -> int:
    from pydantic import ValidationError

    from services.intake.api import create_app
    from services.intake.settings import IntakeSettings

    try:
        settings = IntakeSettings()  # required fields come from the environment
        logging.basicConfig(level=settings.log_level,
                            format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
        # aiokafka logs every transaction's coordinator look-up at INFO.
        if settings.log_level.upper() != "DEBUG":
            logging.getLogger("aiokafka").setLevel(logging.WARNING)
        app = create_app(service, settings)
    except (ValidationError, ConfigError, MetricsAccessError, MasterKeyError) as exc:
        print(f"{service}: cannot start: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=settings.host, port=settings.port or DEFAULT_PORTS[service],
                log_level=settings.log_level.lower(), access_log=False,
                proxy_headers=False, server_header=False, **uvicorn_options(settings))
    return 0
