"""The whole chain as users run it, on a broker of its own: agencies post the demonstration over HTTP
to the three intake services, the stream processor turns it into group states, and the dashboard serves
them: every group state the dashboard gives equals, byte for byte, the pure rules over the log."""

from __future__ import annotations

import subprocess
import sys
from contextlib import ExitStack

import httpx
import pytest

from devtools.bench.common import service_process
from tests.processor_support import live_view, running_processor, wait_for, wait_until_live_equals_replay

INTAKES = ("incidents", "notifications", "sanctions")


@pytest.fixture(scope="module")
def bootstrap(own_kafka_bootstrap: str) -> str:
    return own_kafka_bootstrap


def test_posted_events_become_group_states_that_the_dashboard_serves(
        bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    with ExitStack() as stack:
        urls = {name: stack.enter_context(service_process(f"services.{name}", bootstrap)) for name in INTAKES}
        stack.enter_context(running_processor(bootstrap, tmp_path_factory.mktemp("e2e-processor")))
        args = [sys.executable, "-m", "devtools.demo", "--seed", "11"]
        args += [f"--{name}={url}" for name, url in urls.items()]
        posted = subprocess.run(args, capture_output=True, text=True, timeout=600)
        assert posted.returncode == 0, posted.stdout[-2000:] + posted.stderr[-2000:]

        expected = wait_until_live_equals_replay(bootstrap, timeout=180)
        statuses = {state.status for state in expected.groups.values()}
        assert len(expected.groups) >= 10 and len(statuses) >= 3, "the demo should exercise the rules"
        assert any(state.cases for state in expected.groups.values())

        dashboard = stack.enter_context(service_process(
            "services.dashboard", bootstrap, GVI_USERS_FILE="deploy/config/users.dev.toml"))
        login = {"username": "operator", "password": "dev-operator"}
        token = httpx.post(f"{dashboard}/api/token", data=login, timeout=10).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        live = live_view(bootstrap)
        for group_id, state in expected.groups.items():
            answer = wait_for(lambda g=group_id: _get(f"{dashboard}/api/groups/{g}", headers), 30,
                              f"the dashboard to serve {group_id}")
            assert answer.content == state.to_json(), group_id
            assert live.group(group_id) == state
        board = httpx.get(f"{dashboard}/api/groups", headers=headers, timeout=10).json()
        assert {row["group_id"]: row["status"] for row in board} == {
            g: state.status.value for g, state in expected.groups.items()}


def _get(url: str, headers: dict[str, str]) -> httpx.Response | None:
    answer = httpx.get(url, headers=headers, timeout=10)
    return answer if answer.status_code == 200 else None
