"""Reading sealed records back in tests, as the partnership's key holders would: the key ring from
the `person-keys` topic (development master key), and events opened with it; and a sanction that
names one person and no group, the event those tests post."""

from __future__ import annotations

import json
from typing import Any

from services.contracts import PERSON_KEYS_TOPIC
from services.privacy.claims import DEV_MASTER_KEY_FILE, MasterKey
from services.privacy.keys import KeyRing
from services.privacy.sealing import unsealed
from tests.examples import example_event
from tests.integration.test_intake_kafka import read_topic


def dev_master_key() -> MasterKey:
    """The development master key, which the services use when none is configured."""
    return MasterKey.from_file(DEV_MASTER_KEY_FILE, development=True)


def dev_key_ring(bootstrap: str) -> KeyRing:
    """Every claim in the topic, applied in its order, with the development master key."""
    ring = KeyRing(dev_master_key())
    for record in read_topic(bootstrap, PERSON_KEYS_TOPIC):
        ring.apply(record.key.decode(), record.value)
    return ring


def opened_events(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Every committed event of `topic` with its persons' clear values put back (as posted)."""
    ring = dev_key_ring(bootstrap)
    return [unsealed(json.loads(record.value), ring.data_key) for record in read_topic(bootstrap, topic)]


def person_only_sanction(person: str) -> dict[str, Any]:
    """A prosecutor's sanction of `person` that names no group (`group_id` left out, not null)."""
    sanction = example_event("gvi.sanction.recorded.v1", source="/agencies/prosecutor", data_overrides={
        "kind": "prosecution", "person_ref": person, "group_id": None})
    sanction["data"].pop("group_id", None)
    return sanction
