"""How the dashboard's data-entry forms reach the intakes: the agencies' keys it holds, and the port
that posts one CloudEvent to the intake service that owns its type, over HTTP, as an agency's own
system would (`POST /v1/events`, structured mode, `Authorization: Bearer <agency key>`).

The keys file (TOML, `GVI_DATA_ENTRY_KEYS_FILE`; a secret, like the agencies file):

    [[agency]]
    name = "municipality"                 # as in the agencies file; users name it in `enters_for`
    source = "/agencies/municipality"     # the agency's CloudEvents source
    key = "<the agency key the dashboard posts with>"
    forms = ["call-in", "warning", "support", "retraction"]   # the forms its users are offered (default: all)

The intake stays the one authority on what an agency may post: a form offered here that the
agency's role does not allow is refused by the intake (403), and the form shows its message.

Errors of the port, one hierarchy:

    IntakeUnreachable   the intake did not answer (connection refused, timeout, a broken answer):
                        the event may or may not have been recorded; the same event id again is safe
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from services.dashboard.auth import ConfigError

__all__ = ["FORM_NAMES", "AgencyKey", "FakeIntakePoster", "HttpIntakePoster", "IntakePoster", "IntakeReply",
           "IntakeUnreachable", "load_agency_keys"]

FORM_NAMES = ("call-in-scheduled", "call-in", "warning", "support", "support-accepted", "exit-milestone",
              "relation-ended", "alert-triage", "retraction")
"""Every form the dashboard has (`forms.FORMS` defines them)."""

_MIN_KEY = 32


@dataclass(frozen=True, slots=True)
class AgencyKey:
    name: str
    source: str
    key: str = field(repr=False)
    forms: tuple[str, ...] = FORM_NAMES


def load_agency_keys(path: Path, *, development: bool) -> dict[str, AgencyKey]:
    """Read and check the keys file; outside development refuse the development file and any key
    too short to be a generated one (`python -m services.intake.keys new` gives 43 characters)."""
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the data-entry keys file {path}: {exc}") from exc
    if not development and config.get("development_only", False):
        raise ConfigError(f"{path} holds the development keys: give GVI_DATA_ENTRY_KEYS_FILE a file of "
                          "your own outside development mode")
    found: dict[str, AgencyKey] = {}
    for raw in config.get("agency", []):
        try:
            name, source, key = str(raw["name"]), str(raw["source"]), str(raw["key"])
            forms = tuple(str(f) for f in raw.get("forms", FORM_NAMES))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: every [[agency]] needs name, source and key") from exc
        if name in found:
            raise ConfigError(f"{path}: agency {name!r} is listed twice")
        unknown = set(forms) - set(FORM_NAMES)
        if unknown:
            raise ConfigError(f"{path}: agency {name!r}: unknown forms {sorted(unknown)}; the forms are "
                              f"{', '.join(FORM_NAMES)}")
        if not development and len(key) < _MIN_KEY:
            raise ConfigError(f"{path}: agency {name!r}: the key is shorter than {_MIN_KEY} characters, "
                              "so not one `python -m services.intake.keys new` made")
        found[name] = AgencyKey(name, source, key, forms)
    return found


@dataclass(frozen=True, slots=True)
class IntakeReply:
    """The intake's answer: its status and JSON body (a receipt, or `error`, `message`, `errors`)."""

    status: int
    body: Mapping[str, Any]


class IntakeUnreachable(Exception):
    """The intake did not answer; the message says so without any detail of the event."""


class IntakePoster(Protocol):
    async def post(self, service: str, key: str, event: Mapping[str, Any]) -> IntakeReply:
        """Post one structured-mode CloudEvent to `service`'s intake; raises IntakeUnreachable."""
        ...

    async def close(self) -> None: ...


class HttpIntakePoster:
    """The port over HTTP (httpx); one connection pool for the process, closed by the lifespan."""

    def __init__(self, urls: Mapping[str, str], *, timeout_seconds: float,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._urls = dict(urls)
        self._client = httpx.AsyncClient(timeout=timeout_seconds, transport=transport,
                                         follow_redirects=False)

    async def post(self, service: str, key: str, event: Mapping[str, Any]) -> IntakeReply:
        url = f"{self._urls[service]}/v1/events"
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            answer = await self._client.post(url, content=body, headers={
                "authorization": f"Bearer {key}",
                "content-type": "application/cloudevents+json; charset=utf-8"})
        except httpx.HTTPError as exc:
            raise IntakeUnreachable(f"the {service} intake did not answer ({type(exc).__name__})") from exc
        try:
            parsed = answer.json()
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            if answer.status_code >= 500:
                parsed = {"message": f"the {service} intake answered {answer.status_code}"}
            else:
                raise IntakeUnreachable(f"the {service} intake gave an answer that is not its JSON "
                                        f"({answer.status_code})")
        return IntakeReply(answer.status_code, parsed)

    async def close(self) -> None:
        await self._client.aclose()


class FakeIntakePoster:
    """The port's fake: records what was posted and answers `reply` (a 202 receipt by default), or
    raises `failure` when set."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str, dict[str, Any]]] = []
        self.reply: IntakeReply | None = None
        self.failure: IntakeUnreachable | None = None

    async def post(self, service: str, key: str, event: Mapping[str, Any]) -> IntakeReply:
        if self.failure is not None:
            raise self.failure
        self.posted.append((service, key, dict(event)))
        if self.reply is not None:
            return self.reply
        return IntakeReply(202, {"status": "accepted", "id": event.get("id"), "source": event.get("source"),
                                 "type": event.get("type"), "topic": service, "partition": 0,
                                 "offset": len(self.posted) - 1, "recordedtime": "2026-01-01T00:00:00Z"})

    async def close(self) -> None:
        return None
