"""The dashboard against a broker that dies and comes back (issue 18): /readyz, the gauges and the live
stream say "stale" within the bound, and "fresh" once the broker answers again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from devtools.broker import KafkaBroker, free_port
from services.infra.topics import ensure_topics
from tests.integration.test_dashboard_kafka import dashboard, token
from tests.processor_support import wait_for


@pytest.fixture
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    kafka = KafkaBroker(tmp_path_factory.mktemp("stale-kafka"), free_port(), free_port())
    kafka.start()
    ensure_topics(kafka.bootstrap, partitions=3, replication_factor=1)
    yield kafka
    kafka.stop()


class Listener(threading.Thread):
    """The event names of one live stream, as a page would receive them."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.events: list[str] = []

    def run(self) -> None:
        try:
            with httpx.stream("GET", f"{self.url}/api/stream", headers=self.headers, timeout=None) as stream:
                for line in stream.iter_lines():
                    if line.startswith("event: "):
                        self.events.append(line.removeprefix("event: "))
        except httpx.HTTPError:
            pass


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exposed")


def test_a_dead_broker_makes_the_dashboard_stale_and_its_return_fresh(broker: KafkaBroker) -> None:
    with dashboard(broker.bootstrap, GVI_DASHBOARD_STALE_AFTER_SECONDS=4) as url:
        listener = Listener(url, token(url, "operator"))
        listener.start()
        wait_for(lambda: "hello" in listener.events, 10, "the stream's hello")
        assert metric(url, "gvi_dashboard_feed_stale") == 0
        assert metric(url, "gvi_dashboard_caught_up") == 1
        killed = time.monotonic()
        broker.kill()
        answer = wait_for(lambda: (lambda r: r if r.status_code == 503 else None)(httpx.get(f"{url}/readyz")),
                          30, "/readyz to say stale")
        assert answer.json()["status"] == "stale"
        assert time.monotonic() - killed < 20
        assert httpx.get(f"{url}/readyz", params={"exclude": "fresh"}).status_code == 200  # still served
        assert metric(url, "gvi_dashboard_feed_stale") == 1
        assert metric(url, "gvi_dashboard_caught_up") == 0
        wait_for(lambda: "stale" in listener.events, 10, "the stream's stale event")
        broker.start()
        wait_for(lambda: httpx.get(f"{url}/readyz").status_code == 200, 90, "/readyz to say ready again")
        wait_for(lambda: "fresh" in listener.events, 10, "the stream's fresh event")
        assert metric(url, "gvi_dashboard_feed_stale") == 0
