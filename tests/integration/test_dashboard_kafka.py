"""The dashboard against the real broker: records produced to its topics (source events, and the
processor's output in its real format from the rules' own `Ledger` and `records_for`) are seen through
the JSON API and the live stream; reads of details land in the `access-log` topic; a restarted
dashboard rebuilds the same read model from the topics."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from kafka import KafkaProducer

from devtools.broker import free_port
from services.contracts import CloudEvent, owner_of, partition_key
from services.dashboard.app import create_app
from services.dashboard.settings import DashboardSettings
from services.followthrough import Ledger, records_for
from tests.integration.test_intake_kafka import read_topic
from tests.unit.domain import builders as b

USERS = Path("deploy/config/users.dev.toml")


class Processor:
    """Publishes events and the processor's output for them, as the running system would."""

    def __init__(self, bootstrap: str) -> None:
        self.ledger = Ledger()
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")

    def post(self, *events: CloudEvent) -> None:
        for event in events:
            service = owner_of(event.type)
            topic = service.topic if service is not None else "notifications"
            self.producer.send(topic, key=partition_key(event).encode(), value=event.to_json())
            update = self.ledger.apply(event)
            for key, value in records_for(self.ledger, update):
                self.producer.send("group-state", key=key, value=value)
            for alert in update.alerts.raised:
                self.producer.send("alerts", key=alert.alert_id.encode(), value=alert.to_json())
        self.producer.flush(10)


@contextmanager
def dashboard(bootstrap: str, **extra: Any) -> Iterator[str]:
    """A dashboard served by uvicorn on a free port (a real server: the stream is a real stream);
    `extra` settings by their environment names."""
    settings = DashboardSettings(**{"GVI_ENV": "development", "GVI_USERS_FILE": USERS,
                                    "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "GVI_SSE_HEARTBEAT_SECONDS": 1,
                                    **extra})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the dashboard never caught up"
        time.sleep(0.2)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


def token(url: str, user: str) -> dict[str, str]:
    answer = httpx.post(f"{url}/api/token", data={"username": user, "password": f"dev-{user}"})
    assert answer.status_code == 200, answer.text
    return {"authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture(scope="module")
def processor(kafka_bootstrap: str) -> Iterator[Processor]:
    proc = Processor(kafka_bootstrap)
    yield proc
    proc.producer.close()


def test_the_read_model_is_rebuilt_from_the_topics_and_follows_them_live(
        kafka_bootstrap: str, processor: Processor) -> None:
    group = f"grp-{uuid.uuid4().hex[:8]}"
    processor.post(b.registered(f"{group}-reg", group, "Östra"), b.warning(f"{group}-w1", group, 1),
                   b.incident(f"{group}-r1", f"{group}-i1", 5, [group]))
    with dashboard(kafka_bootstrap) as url:
        headers = token(url, "operator")
        [line] = [g for g in httpx.get(f"{url}/api/groups", headers=headers).json() if g["group_id"] == group]
        assert (line["name"], line["status"], line["open_case_count"]) == ("Östra", "awaiting_sanction", 1)
        detail = httpx.get(f"{url}/api/groups/{group}", headers=headers)
        assert detail.content == processor.ledger.derived().groups[group].to_json()

        events: list[tuple[str, Any]] = []
        opened = threading.Event()

        def listen() -> None:
            with httpx.stream("GET", f"{url}/api/stream", headers=headers, timeout=30) as stream:
                name = ""
                for raw in stream.iter_lines():
                    if raw.startswith("event: "):
                        name = raw[7:]
                    elif raw.startswith("data: "):
                        events.append((name, json.loads(raw[6:])))
                        opened.set()
                        if name == "group" and events[-1][1].get("group_id") == group \
                                and events[-1][1].get("status") == "sanctioned":
                            return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert opened.wait(10), "the stream never said hello"
        processor.post(b.sanction(f"{group}-s1", 6, group=group, incident=f"{group}-i1"))
        listener.join(15)
        assert not listener.is_alive(), f"no sanctioned update for {group} on the stream: {events[-5:]}"
        assert events[0][0] == "hello"
        cases = httpx.get(f"{url}/api/cases?status=sanctioned", headers=headers).json()
        assert [c["sanctions"][0]["agency"] for c in cases if c["group_id"] == group] == ["police"]

    with dashboard(kafka_bootstrap) as url:       # a restart rebuilds the same state from the topics
        again = httpx.get(f"{url}/api/groups/{group}", headers=token(url, "operator"))
        assert again.content == processor.ledger.derived().groups[group].to_json()
        with httpx.Client(base_url=url) as client:    # and the group's page lists its case
            login = client.get("/login").text
            csrf = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            client.post("/login", data={"username": "operator", "password": "dev-operator",
                                        "csrf_token": csrf, "next": "/"})
            page = client.get(f"/groups/{group}")
            assert page.status_code == 200 and f'data-case="{group}|{group}-i1"' in page.text
            assert "Nothing to show." not in page.text


def test_reads_of_details_and_briefs_are_in_the_access_log_topic(
        kafka_bootstrap: str, processor: Processor) -> None:
    group = f"grp-{uuid.uuid4().hex[:8]}"
    call_in = f"ci-{group}"
    processor.post(b.warning(f"{group}-w1", group, 1), b.scheduled(f"{group}-c1", call_in, 2, [group]))
    with dashboard(kafka_bootstrap) as url:
        headers = token(url, "analyst")
        assert httpx.get(f"{url}/api/groups/{group}/people", headers=headers).status_code == 200
        brief = httpx.get(f"{url}/api/call-ins/{call_in}/brief", headers=headers)
        assert brief.status_code == 200 and brief.json()["groups"][0]["group_id"] == group
    entries = [json.loads(r.value) for r in read_topic(kafka_bootstrap, "access-log")]
    mine = [(e["user"], e["resource"], e["person_refs_shown"]) for e in entries
            if e["resource_id"] in (group, call_in)]
    assert mine == [("analyst", "group_people", True), ("analyst", "call_in_brief", False)]
