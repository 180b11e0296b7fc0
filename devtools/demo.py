"""`make demo`: post the demo scenario (`devtools.scenario`) through the intake APIs, as agency systems would.

    python -m devtools.demo [--incidents URL] [--notifications URL] [--sanctions URL] [--seed N]
                            [--window event|day|week|month]

Defaults: http://127.0.0.1:8001 (incidents), :8002 (notifications), :8003 (sanctions), or the
environment's GVI_INCIDENTS_URL, GVI_NOTIFICATIONS_URL, GVI_SANCTIONS_URL. Each agency posts with its
public development key (README), so the services must run in development mode (`make run`).

Events are posted week by week (`--window`) in the order of their `time`, each agency's events of a
week to one service together (`posting_order`), as batches of up to 200
(`application/cloudevents-batch+json`); every so often an event goes alone in structured mode
(`application/cloudevents+json`) or in binary mode (`ce-*` headers), so that every binding is used.
Event ids are deterministic: a second run is answered with duplicates (200) and changes nothing.
Any other refusal stops the run with exit code 1, showing the service's message.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from devtools.scenario import ScenarioEvent, build_scenario

__all__ = ["AGENCY_KEYS", "DEFAULT_URLS", "DemoError", "main", "plan_requests", "posting_order"]

DEFAULT_URLS = {
    "incidents": "http://127.0.0.1:8001",
    "notifications": "http://127.0.0.1:8002",
    "sanctions": "http://127.0.0.1:8003",
}
AGENCY_KEYS = {
    "police": "dev-police-key",
    "prosecutor": "dev-prosecutor-key",
    "probation": "dev-probation-key",
    "municipality": "dev-municipality-key",
    "civil-society": "dev-civil-key",
}
"""The public development keys of deploy/config/agencies.dev.toml."""

MAX_BATCH = 200
STRUCTURED_EVERY = 37
"""Every 37th event is posted alone in structured mode, ..."""
BINARY_EVERY = 41
"""... every 41st alone in binary mode; the rest in batches."""

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


class DemoError(RuntimeError):
    """The demo cannot go on; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request of the demo: a batch, or a single event in structured or binary mode."""

    mode: str  # "batch" | "structured" | "binary"
    agency: str
    service: str
    events: tuple[ScenarioEvent, ...]


WINDOWS = ("event", "day", "week", "month")


def _window(event: ScenarioEvent, window: str) -> tuple[int, ...]:
    day = date.fromisoformat(event.time[:10])
    if window == "day":
        return (day.toordinal(),)
    if window == "week":
        iso = day.isocalendar()
        return (iso.year, iso.week)
    if window == "month":
        return (day.year, day.month)
    raise ValueError(f"unknown window {window!r}; one of {', '.join(WINDOWS)}")


def posting_order(events: Sequence[ScenarioEvent], window: str = "week") -> list[ScenarioEvent]:
    """The events window by window (days, ISO weeks or months of their local time), and within a
    window each agency's events to one service together, in their own order: as agency systems that
    send what they recorded once a day, week or month would. Each agency's stream to each service
    keeps its exact order (so a retraction always follows what it retracts), and far fewer requests
    are needed than in strict time order (`window="event"`, the scenario's own order)."""
    if window == "event":
        return list(events)
    streams: dict[tuple[tuple[int, ...], str, str], int] = {}
    keyed = []
    for index, event in enumerate(events):
        span = _window(event, window)
        stream = streams.setdefault((span, event.agency, event.service), len(streams))
        keyed.append((span, stream, index, event))
    keyed.sort(key=lambda k: (k[0], k[1], k[2]))
    return [k[3] for k in keyed]


def plan_requests(events: Sequence[ScenarioEvent]) -> Iterator[Request]:
    """Group consecutive events of one agency and service into batches of up to MAX_BATCH, sending
    every STRUCTURED_EVERY-th and BINARY_EVERY-th event alone. The given order is kept exactly."""
    pending: list[ScenarioEvent] = []
    for index, event in enumerate(events, start=1):
        single = ("structured" if index % STRUCTURED_EVERY == 0
                  else "binary" if index % BINARY_EVERY == 0 else None)
        if pending and (single is not None or len(pending) == MAX_BATCH
                        or (pending[0].agency, pending[0].service) != (event.agency, event.service)):
            yield Request("batch", pending[0].agency, pending[0].service, tuple(pending))
            pending = []
        if single is not None:
            yield Request(single, event.agency, event.service, (event,))
        else:
            pending.append(event)
    if pending:
        yield Request("batch", pending[0].agency, pending[0].service, tuple(pending))


def _header_value(value: str) -> str:
    """Percent-encode what the CloudEvents HTTP binding requires in a ce-* header."""
    out: list[str] = []
    for char in value:
        if char in ' "%' or not 0x21 <= ord(char) <= 0x7E:
            out.extend(f"%{byte:02X}" for byte in char.encode())
        else:
            out.append(char)
    return "".join(out)


def _http_request(request: Request) -> tuple[dict[str, str], bytes]:
    headers = {"authorization": f"Bearer {AGENCY_KEYS[request.agency]}"}
    if request.mode == "batch":
        headers["content-type"] = BATCH
        return headers, json.dumps([e.event for e in request.events], ensure_ascii=False).encode()
    event = request.events[0].event
    if request.mode == "structured":
        headers["content-type"] = STRUCTURED
        return headers, json.dumps(event, ensure_ascii=False).encode()
    headers["content-type"] = event.get("datacontenttype", "application/json")
    for name, value in event.items():
        if name not in ("data", "datacontenttype"):
            headers[f"ce-{name}"] = _header_value(str(value))
    return headers, json.dumps(event["data"], ensure_ascii=False).encode()


def _refusal(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return response.text[:500] or "(empty body)"
    if not isinstance(body, dict):
        return str(body)[:500]
    lines = [str(body.get("message", body))]
    for error in body.get("errors", [])[:10]:
        lines.append(f"  {error.get('field')}: {error.get('message')}")
    return "\n".join(lines)


@dataclass
class Tally:
    accepted: int = 0
    duplicates: int = 0
    requests: Counter[str] = field(default_factory=Counter)


def _post(client: httpx.Client, urls: dict[str, str], request: Request, tally: Tally) -> None:
    headers, body = _http_request(request)
    url = f"{urls[request.service]}/v1/events"
    try:
        response = client.post(url, headers=headers, content=body)
    except httpx.HTTPError as exc:
        raise DemoError(f"posting to {url} failed: {exc}") from exc
    if not response.is_success:
        first = request.events[0]
        raise DemoError(
            f"the {request.service} service refused a {request.mode} request of {len(request.events)} "
            f"event(s) from {request.agency} (first: {first.id}, {first.type}) with HTTP "
            f"{response.status_code}:\n{_refusal(response)}"
            + ("\nThe services hold an earlier, different version of the demo scenario: post another "
               "--seed, or start again from empty Kafka data." if response.status_code == 409 else ""))
    tally.requests[request.mode] += 1
    answer = response.json()
    statuses = ([r["status"] for r in answer["receipts"]] if request.mode == "batch"
                else [answer["status"]])
    tally.accepted += statuses.count("accepted")
    tally.duplicates += statuses.count("duplicate")


def _check_ready(client: httpx.Client, urls: dict[str, str]) -> None:
    problems = []
    for service, url in urls.items():
        try:
            response = client.get(f"{url}/readyz", timeout=5)
        except httpx.HTTPError as exc:
            problems.append(f"  {service} at {url}: not reachable ({type(exc).__name__})")
            continue
        if response.status_code != 200:
            problems.append(f"  {service} at {url}: not ready (HTTP {response.status_code})")
    if problems:
        raise DemoError("the intake services are not ready:\n" + "\n".join(problems)
                        + "\nstart the system with `make run` first (or pass --incidents/--notifications/"
                          "--sanctions URLs of running services)")


def _summary(events: Sequence[ScenarioEvent]) -> str:
    by_type = Counter(e.type for e in events)
    years = Counter(e.time[:4] for e in events)
    groups = sorted({e.event["data"]["group_id"] for e in events if e.type == "gvi.group.registered.v1"})
    kinds = Counter(e.event["data"]["kind"] for e in events if e.type == "gvi.incident.reported.v1")
    width = max(len(t) for t in by_type)
    lines = ["events per type:"]
    lines += [f"  {t.ljust(width)}  {n:5d}" for t, n in sorted(by_type.items())]
    lines.append("incidents per kind: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    lines.append(f"groups ({len(groups)}): " + ", ".join(groups))
    lines.append("events per year: " + ", ".join(f"{y} {n}" for y, n in sorted(years.items())))
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__.split("\n\n")[0])
    for service, default in DEFAULT_URLS.items():
        parser.add_argument(f"--{service}", metavar="URL",
                            default=os.environ.get(f"GVI_{service.upper()}_URL", default),
                            help=f"the {service} intake (default: $GVI_{service.upper()}_URL or {default})")
    parser.add_argument("--seed", type=int, default=2018, help="the scenario's seed (default: 2018)")
    parser.add_argument("--window", choices=WINDOWS, default="week",
                        help="post each agency's events of a day, week or month together, or every "
                             "event in strict time order (event); larger windows need fewer requests "
                             "(default: week)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    urls = {service: str(getattr(args, service)).rstrip("/") for service in DEFAULT_URLS}
    events = build_scenario(args.seed)
    tally = Tally()
    started = time.monotonic()
    try:
        with httpx.Client(timeout=httpx.Timeout(60.0, connect=5.0)) as client:
            _check_ready(client, urls)
            print(f"posting {len(events)} events of the demo scenario (seed {args.seed}) to "
                  + ", ".join(f"{s} {u}" for s, u in urls.items()), flush=True)
            done = 0
            for request in plan_requests(posting_order(events, args.window)):
                _post(client, urls, request, tally)
                before, done = done, done + len(request.events)
                if done // 500 != before // 500:
                    print(f"  {done}/{len(events)} posted", flush=True)
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if tally.accepted or tally.duplicates:
            print(f"(before the error: {tally.accepted} accepted, {tally.duplicates} duplicates)",
                  file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(_summary(events))
    print("requests: " + ", ".join(f"{mode} {n}" for mode, n in sorted(tally.requests.items())))
    print(f"done in {elapsed:.1f}s: {tally.accepted} accepted, {tally.duplicates} duplicates"
          + (" (already posted before: nothing changed)" if not tally.accepted else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
