"""Who may read `/metrics` and the API's documentation (issue 22, item 6).

Every service answers its probes (`/healthz`, `/readyz`) to anyone: they say up or ready and nothing
more. `/metrics` says more (traffic per route, rejections per type, login failures), and the OpenAPI
schema with `/docs` maps every route, so outside development (`GVI_ENV` other than `development`):

* `/metrics` answers only `Authorization: Bearer <token>`, the token being the content of the file
  `GVI_METRICS_TOKEN_FILE` (a mounted Secret; Prometheus sends the same file); anything else is 401.
  A service outside development refuses to start without that file.
* `/docs`, `/redoc` and `/openapi.json` are not served (404) unless `GVI_API_DOCS=true`.

In development both are open, unless a token file is given: then `/metrics` asks for it there too.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

__all__ = ["MIN_TOKEN_CHARS", "ApiDocs", "MetricsAccess", "MetricsAccessError", "MetricsTokenFile",
           "api_docs_urls"]

MIN_TOKEN_CHARS = 32

MetricsTokenFile = Annotated[Path | None, Field(
    validation_alias="GVI_METRICS_TOKEN_FILE",
    description="File holding the bearer token /metrics asks for (required outside development).")]
ApiDocs = Annotated[bool | None, Field(
    validation_alias="GVI_API_DOCS",
    description="Serve /docs, /redoc and /openapi.json; unset: in development only.")]


class MetricsAccessError(ValueError):
    """The metrics token is missing outside development, unreadable or too short (the service does
    not start)."""


@dataclass(frozen=True)
class MetricsAccess:
    """The token `/metrics` asks for; `None`: open (development without a token file)."""

    token: bytes | None

    REFUSAL = ("send 'Authorization: Bearer <token>' with the token in the service's "
               "GVI_METRICS_TOKEN_FILE (docs/operations.md, Monitoring)")
    CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metrics"'}

    @classmethod
    def configure(cls, *, env: str, token_file: Path | None) -> MetricsAccess:
        if token_file is None:
            if env != "development":
                raise MetricsAccessError(
                    "GVI_METRICS_TOKEN_FILE is not set: outside development /metrics needs a bearer "
                    "token; put one (e.g. `openssl rand -hex 32`) in a file readable by this service "
                    "and by Prometheus, or set GVI_ENV=development on a developer's machine")
            return cls(None)
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise MetricsAccessError(f"cannot read GVI_METRICS_TOKEN_FILE {token_file}: "
                                     f"{getattr(exc, 'strerror', None) or exc}") from None
        if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token) or not token.isprintable():
            raise MetricsAccessError(
                f"the metrics token in {token_file} must be one line of at least {MIN_TOKEN_CHARS} "
                "printable characters without spaces (e.g. `openssl rand -hex 32`)")
        return cls(token.encode())

    def allows(self, authorization: str | None) -> bool:
        """Whether a request with this `Authorization` header may read `/metrics`."""
        if self.token is None:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token)


def api_docs_urls(*, env: str, api_docs: bool | None) -> dict[str, Any]:
    """FastAPI's arguments for the documentation routes: served in development or when asked for."""
    if api_docs if api_docs is not None else env == "development":
        return {"docs_url": "/docs", "redoc_url": "/redoc", "openapi_url": "/openapi.json"}
    return {"docs_url": None, "redoc_url": None, "openapi_url": None}
