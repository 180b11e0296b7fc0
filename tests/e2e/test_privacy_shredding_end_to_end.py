"""Crypto-shredding end to end, on a broker of its own: agencies name persons through the real
intakes, the stream processor derives group states, then the data protection officer erases one
person and the retention job shreds everyone else. The group states stay byte-identical (the
processor works on pseudonyms and never reads the keys), and `gvi-audit verify`, with the
checkpointer chaining the data-protection topic too, passes: every erased person's key is gone
and no retention deadline is overdue."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.cli import main as gvi_audit
from services.audit.library.signing import SigningKey, public_line
from services.contracts import GROUP_STATE_TOPIC, SOURCE_TOPIC_NAMES, Service
from services.privacy.cli import main as gvi_privacy
from tests.audit_support import TopicSet, running_checkpointer
from tests.examples import example_event
from tests.integration.test_intake_kafka import post, read_topic, running
from tests.processor_support import running_processor, wait_until_live_equals_replay

POLICE = "/agencies/police"
KEY = SigningKey(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def bootstrap(own_kafka_bootstrap: str) -> str:
    return own_kafka_bootstrap


def _events() -> list[tuple[Service, dict[str, Any], str]]:
    group = {"group_id": "grp-shred-1"}
    found = [(Service.NOTIFICATIONS, example_event("gvi.group.registered.v1", source=POLICE,
                                                   data_overrides=group), "dev-police-key")]
    for person in ("police:p-shred-a", "police:p-shred-b"):
        member = example_event("gvi.membership.assessed.v1", source=POLICE,
                               data_overrides={**group, "person_ref": person})
        found.append((Service.NOTIFICATIONS, member, "dev-police-key"))
    warning = example_event("gvi.warning.delivered.v1", source="/agencies/probation",
                            data_overrides={**group, "person_ref": "police:p-shred-a"})
    person = {"person_ref": "police:p-shred-a"}
    sanction = example_event("gvi.sanction.recorded.v1", source="/agencies/prosecutor",
                             data_overrides={**group, **person, "kind": "prosecution"})
    found += [(Service.NOTIFICATIONS, warning, "dev-probation-key"),
              (Service.SANCTIONS, sanction, "dev-prosecutor-key")]
    return found


def _states(bootstrap: str) -> dict[bytes, bytes]:
    """The group-state topic as a compacted reader sees it: each key's latest value."""
    return {r.key: r.value for r in read_topic(bootstrap, GROUP_STATE_TOPIC)}


def _verify(keys: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = gvi_audit(["--no-progress", "verify", "--public-keys", str(keys), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_shredding_leaves_group_states_byte_identical_and_verify_passes(
        bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in {"GVI_ENV": "development", "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                        "GVI_AUDITOR_KEY": "dev-dpo-key"}.items():
        monkeypatch.setenv(name, value)
    with (running(Service.NOTIFICATIONS, bootstrap) as notifications,
          running(Service.SANCTIONS, bootstrap) as sanctions):
        clients = {Service.NOTIFICATIONS: notifications, Service.SANCTIONS: sanctions}
        for service, event, key in _events():
            assert post(clients[service], event, key).status_code == 202, event["type"]
    with running_processor(bootstrap, tmp_path / "processor"):
        wait_until_live_equals_replay(bootstrap, timeout=120)
        before = _states(bootstrap)
        assert any(b"grp-shred-1" in key for key in before)
        who = ["--case", "DP-1", "--reason", "asked in writing", "--officer", "dpo"]
        assert gvi_privacy(["request", "open", "--kind", "erasure", *who]) == 0
        assert gvi_privacy(["erase", "--person-ref", "police:p-shred-a", *who]) == 0
        assert gvi_privacy(["retention", "--now", "2100-01-01T00:00:00Z"]) == 0  # everyone else is due
        wait_until_live_equals_replay(bootstrap, timeout=120)
        time.sleep(2)
        assert _states(bootstrap) == before

    topics = TopicSet(bootstrap, SOURCE_TOPIC_NAMES, "audit-checkpoints", "access-log")
    keys = tmp_path / "audit.pub"
    keys.write_text(public_line(KEY.public) + "\n")
    with running_checkpointer(topics, KEY):
        deadline = time.monotonic() + 60
        code, report = _verify(keys, capsys)
        while report["unverified_records"] and time.monotonic() < deadline:
            time.sleep(0.5)
            code, report = _verify(keys, capsys)
    assert code == 0 and report["ok"], report["problems"]
    assert {p["topic"] for p in report["partitions"]} >= {*SOURCE_TOPIC_NAMES, "data-protection"}
    assert report["unverified_records"] == 0
