"""Agency systems posting the demo scenario (`devtools.scenario`) over HTTP, through failures.

A `Client` posts its requests in order, as `make demo` plans them (batches and single events in
structured and binary mode), retrying a 503 or a connection failure with the same events until the
intake accepts them, as the README tells agency systems to. It retries every `RETRY_S` seconds
rather than after the intake's `Retry-After` (5 s), so that the times measured are the service's,
not the client's back-off. Every answer is kept in a shared `Tally`: the receipts of the events
acknowledged (202, or 200 with the original receipt) and when each 202 came.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from devtools.demo import AGENCY_KEYS, Request, _http_request, plan_requests, posting_order
from devtools.scenario import build_scenario
from tests.examples import example_event

RETRY_S = 0.5
GIVE_UP_S = 180.0  # one request retried this long means the intake never came back: stop, loudly


def scenario_requests(seed: int, window: str = "week", limit: int | None = None) -> list[Request]:
    """The demo scenario of `seed` as `make demo` posts it (the first `limit` events, if given)."""
    events = posting_order(build_scenario(seed), window)
    return list(plan_requests(events[:limit]))


def event_count(requests: Sequence[Request]) -> int:
    return sum(len(r.events) for r in requests)


@dataclass
class Answer:
    status: int | None  # None: no HTTP answer (connection refused, timed out)
    sent: float  # time.monotonic() when the request was sent
    answered: float


@dataclass
class Tally:
    """What every client was answered; safe to share between client threads."""

    acknowledged: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)  # answers other than 200/202/503: the test fails
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, answer: Answer, receipts: Sequence[dict[str, Any]]) -> None:
        with self.lock:
            self.answers.append(answer)
            for receipt in receipts:
                self.acknowledged[(receipt["source"], receipt["id"])] = receipt

    def accepted_between(self, start: float, end: float) -> list[Answer]:
        """The 202s sent at or after `start` and answered before `end`."""
        with self.lock:
            return [a for a in self.answers if a.status == 202 and a.sent >= start and a.answered < end]

    def first_accepted_after(self, moment: float) -> float | None:
        with self.lock:
            times = [a.answered for a in self.answers if a.status == 202 and a.answered >= moment]
        return min(times) if times else None

    def statuses(self) -> dict[str, int]:
        with self.lock:
            counted: dict[str, int] = {}
            for a in self.answers:
                counted[str(a.status)] = counted.get(str(a.status), 0) + 1
            return counted


class Client(threading.Thread):
    """One agency system posting `requests` in order until done or told to stop (`halt`): it stops
    after the request it is posting has been acknowledged (or refused, or given up on)."""

    def __init__(self, urls: dict[str, str], requests: Sequence[Request], tally: Tally,
                 pause_s: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.urls, self.requests, self.tally, self.pause_s = urls, requests, tally, pause_s
        self.halt = threading.Event()
        self.posted = 0  # requests acknowledged

    def run(self) -> None:
        with httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
            for request in self.requests:
                if self.halt.is_set() or not self._post(http, request):
                    return
                self.posted += 1
                if self.pause_s:
                    self.halt.wait(self.pause_s)

    def _post(self, http: httpx.Client, request: Request) -> bool:
        headers, body = _http_request(request)
        url = f"{self.urls[request.service]}/v1/events"
        give_up = time.monotonic() + GIVE_UP_S
        while True:  # a request begun is finished even when told to stop, so that no answer is left open
            sent = time.monotonic()
            try:
                response: httpx.Response | None = http.post(url, headers=headers, content=body)
            except httpx.HTTPError:
                response = None
            answer = Answer(None if response is None else response.status_code, sent, time.monotonic())
            if response is not None and response.status_code in (200, 202):
                body_json = response.json()
                self.tally.record(answer, body_json.get("receipts", [body_json]))
                return True
            self.tally.record(answer, [])
            if response is not None and response.status_code != 503:
                refusal = f"{request.service} {response.status_code}: {response.text[:300]}"
                with self.tally.lock:
                    self.tally.refusals.append(refusal)
                return False
            if time.monotonic() > give_up:
                with self.tally.lock:
                    self.tally.refusals.append(f"{request.service}: no 202 in {GIVE_UP_S:.0f}s of retries")
                return False
            time.sleep(RETRY_S)


def post_all(urls: dict[str, str], requests: Sequence[Request], tally: Tally | None = None) -> Tally:
    """Post `requests` in order in this thread (retrying 503s); the tally of the answers."""
    tally = tally or Tally()
    client = Client(urls, requests, tally)
    client.run()
    return tally


def probe_group(notifications_url: str) -> str:
    """Register a new group (police, to notifications); its id, to look for in `group-state`."""
    group_id = f"grp-probe-{uuid.uuid4().hex[:10]}"
    event = example_event("gvi.group.registered.v1", data_overrides={"group_id": group_id,
                                                                     "name": f"Probe {group_id[-4:]}"})
    headers = {"authorization": f"Bearer {AGENCY_KEYS['police']}",
               "content-type": "application/cloudevents+json"}
    deadline = time.monotonic() + 30
    while True:
        answer = httpx.post(f"{notifications_url}/v1/events", content=json.dumps(event), headers=headers,
                            timeout=30)
        if answer.status_code == 202:
            return group_id
        assert answer.status_code == 503 and time.monotonic() < deadline, (
            f"the probe event was refused: {answer.status_code} {answer.text[:300]}")
        time.sleep(RETRY_S)
