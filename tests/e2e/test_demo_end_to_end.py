"""The whole intake as a user runs it: the three services as processes (`python -m services.X`),
the demonstration posted over HTTP in every binding mode, read back from Kafka."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from contextlib import ExitStack
from typing import Any

from devtools.bench.common import service_process
from devtools.scenario import build_scenario
from tests.integration.test_intake_kafka import read_topic

SERVICES = ("incidents", "notifications", "sanctions")


def test_demo_lands_every_event_once_and_a_second_run_changes_nothing(kafka_broker: Any) -> None:
    scenario = build_scenario(7)
    with ExitStack() as stack:
        urls = {name: stack.enter_context(service_process(f"services.{name}", kafka_broker.bootstrap))
                for name in SERVICES}
        args = [sys.executable, "-m", "devtools.demo", "--seed", "7"]
        args += [f"--{name}={url}" for name, url in urls.items()]
        first = subprocess.run(args, capture_output=True, text=True, timeout=600)
        assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
        assert f"{len(scenario)} accepted, 0 duplicates" in first.stdout
        second = subprocess.run(args, capture_output=True, text=True, timeout=600)
        assert second.returncode == 0, second.stderr[-2000:]
        assert f"0 accepted, {len(scenario)} duplicates" in second.stdout

    expected = Counter((e.service, e.event["id"]) for e in scenario)
    landed: Counter[tuple[str, str]] = Counter()
    for topic in SERVICES:
        for record in read_topic(kafka_broker.bootstrap, topic):
            value = json.loads(record.value)
            if value["id"].startswith("demo-7-"):
                landed[(topic, value["id"])] += 1
                assert value["agency"] and value["recordedtime"]
    assert landed == expected
