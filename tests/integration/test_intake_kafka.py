"""The intake services against the real Kafka broker, read back by an independent consumer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cloudevents.v1.conversion import to_binary, to_structured
from cloudevents.v1.http import CloudEvent as SdkEvent
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition

from services.contracts import EVENT_TYPES, Service, owner_of
from services.intake.api import create_app
from services.intake.settings import IntakeSettings
from tests.examples import example_event

AGENCIES = Path("deploy/config/agencies.dev.toml")
STRUCTURED = {"content-type": "application/cloudevents+json"}

# Which dev agency posts each type in these tests, and the data that its role allows.
POSTER: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "gvi.group.registered.v1": ("police", "dev-police-key", None),
    "gvi.membership.assessed.v1": ("police", "dev-police-key", None),
    "gvi.group.relation.recorded.v1": ("police", "dev-police-key", None),
    "gvi.group.relation.ended.v1": ("police", "dev-police-key", None),
    "gvi.callin.scheduled.v1": ("probation", "dev-probation-key", None),
    "gvi.callin.held.v1": ("probation", "dev-probation-key", None),
    "gvi.warning.delivered.v1": ("probation", "dev-probation-key", None),
    "gvi.incident.reported.v1": ("police", "dev-police-key", None),
    "gvi.incident.attributed.v1": ("police", "dev-police-key", None),
    "gvi.sanction.recorded.v1": ("prosecutor", "dev-prosecutor-key", {"kind": "prosecution"}),
    "gvi.support.offered.v1": ("civil-society", "dev-civil-key", None),
    "gvi.support.accepted.v1": ("civil-society", "dev-civil-key", None),
    "gvi.exit.milestone.v1": ("municipality", "dev-municipality-key", None),
    "gvi.alert.triaged.v1": ("municipality", "dev-municipality-key", None),
    "gvi.exit.milestone.v2": ("municipality", "dev-municipality-key", None),
}
SOURCES = {"police": "/agencies/police", "prosecutor": "/agencies/prosecutor",
           "probation": "/agencies/probation", "municipality": "/agencies/municipality",
           "civil-society": "/agencies/civil-society"}


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every committed record of `topic`, read by a consumer that shares nothing with the service."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             isolation_level="read_committed")
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + 20
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            assert time.monotonic() < deadline, "could not read the topic to its end"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def records_of(bootstrap: str, topic: str, event_id: str) -> list[Any]:
    return [r for r in read_topic(bootstrap, topic) if json.loads(r.value)["id"] == event_id]


@contextmanager
def running(service: Service, bootstrap: str, **env: Any) -> Iterator[TestClient]:
    settings = IntakeSettings(GVI_ENV="development", GVI_AGENCIES_FILE=AGENCIES,
                              KAFKA_BOOTSTRAP_SERVERS=bootstrap, **env)
    with TestClient(create_app(service, settings)) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, f"{service} never became ready"
            time.sleep(0.2)
        yield client


@pytest.fixture(scope="module")
def intakes(kafka_broker: Any) -> Iterator[Callable[[Service], TestClient]]:
    with (running(Service.INCIDENTS, kafka_broker.bootstrap) as inc,
          running(Service.NOTIFICATIONS, kafka_broker.bootstrap) as notif,
          running(Service.SANCTIONS, kafka_broker.bootstrap) as sanc):
        clients = {Service.INCIDENTS: inc, Service.NOTIFICATIONS: notif, Service.SANCTIONS: sanc}
        yield clients.__getitem__


def post(client: TestClient, event: Any, key: str) -> Any:
    return client.post("/v1/events", content=json.dumps(event),
                       headers={**STRUCTURED, "authorization": f"Bearer {key}"})


@pytest.mark.parametrize("event_type", sorted(POSTER))
def test_every_type_lands_once_with_key_source_and_agency(
        event_type: str, intakes: Callable[[Service], TestClient], kafka_broker: Any) -> None:
    agency, key, data = POSTER[event_type]
    service = owner_of(event_type)
    assert service is not None
    event = example_event(event_type, source=SOURCES[agency], data_overrides=data)
    answer = post(intakes(service), event, key)
    assert answer.status_code == 202, answer.text
    receipt = answer.json()
    [record] = records_of(kafka_broker.bootstrap, service.topic, event["id"])
    value = json.loads(record.value)
    assert (record.partition, record.offset) == (receipt["partition"], receipt["offset"])
    assert value["source"] == SOURCES[agency] and value["agency"] == agency
    assert value["type"] == event_type and value["recordedtime"] == receipt["recordedtime"]
    expected_key = {
        "gvi.incident.reported.v1": f"incident:{event['data'].get('incident_id')}",
        "gvi.incident.attributed.v1": f"incident:{event['data'].get('incident_id')}",
        "gvi.callin.scheduled.v1": f"call-in:{event['data'].get('call_in_id')}",
        "gvi.callin.held.v1": f"call-in:{event['data'].get('call_in_id')}",
        "gvi.alert.triaged.v1": f"alert:{event['data'].get('alert_id')}",
    }.get(event_type, event["data"].get("group_id"))
    assert record.key.decode() == expected_key
    assert dict(record.headers)["content-type"].startswith(b"application/cloudevents+json")


def test_retraction_lands_with_the_key_of_what_it_retracts(
        intakes: Callable[[Service], TestClient], kafka_broker: Any) -> None:
    client = intakes(Service.NOTIFICATIONS)
    warning = example_event("gvi.warning.delivered.v1", source="/agencies/probation")
    assert post(client, warning, "dev-probation-key").status_code == 202
    retraction = example_event("gvi.event.retracted.v1", source="/agencies/probation",
                               data_overrides={"retracted_event_id": warning["id"]})
    assert post(client, retraction, "dev-probation-key").status_code == 202
    [original] = records_of(kafka_broker.bootstrap, "notifications", warning["id"])
    [retracted] = records_of(kafka_broker.bootstrap, "notifications", retraction["id"])
    assert (retracted.key, retracted.partition) == (original.key, original.partition)
    assert retracted.offset > original.offset


def test_cloudevents_sdk_structured_and_binary(
        intakes: Callable[[Service], TestClient], kafka_broker: Any) -> None:
    client = intakes(Service.INCIDENTS)
    for convert in (to_structured, to_binary):
        example = example_event("gvi.incident.reported.v1")
        attributes = {k: v for k, v in example.items() if k not in ("data", "specversion")}
        headers, body = convert(SdkEvent(attributes, example["data"]))
        answer = client.post("/v1/events", content=body,
                             headers={**headers, "authorization": "Bearer dev-police-key"})
        assert answer.status_code == 202, (convert.__name__, answer.text)
        assert len(records_of(kafka_broker.bootstrap, "incidents", example["id"])) == 1


def test_batch_is_one_transaction_visible_whole(
        intakes: Callable[[Service], TestClient], kafka_broker: Any) -> None:
    events = [example_event("gvi.incident.reported.v1") for _ in range(50)]
    answer = intakes(Service.INCIDENTS).post(
        "/v1/events", content=json.dumps(events),
        headers={"content-type": "application/cloudevents-batch+json",
                 "authorization": "Bearer dev-police-key"})
    assert answer.status_code == 202, answer.text
    ids = {e["id"] for e in events}
    landed = [r for r in read_topic(kafka_broker.bootstrap, "incidents") if json.loads(r.value)["id"] in ids]
    assert len(landed) == 50


def learnt(client: TestClient, source: str, event_id: str, timeout: float = 10) -> bool:
    """Whether the intake's receipt ledger holds (source, id) within `timeout`: its feed tails the
    record that another intake wrote."""
    ledger = client.app.state.ledger  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while ledger.get(source, event_id) is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_an_id_used_at_another_intake_is_refused_there_and_nothing_is_written(
        intakes: Callable[[Service], TestClient], kafka_broker: Any) -> None:
    """Issue 18, defect 6: the police registers a group under id X at notifications, then reports an
    incident under the same X at incidents; the second must not be accepted and then lost."""
    notifications, incidents = intakes(Service.NOTIFICATIONS), intakes(Service.INCIDENTS)
    police, key = SOURCES["police"], "dev-police-key"
    registered = example_event("gvi.group.registered.v1", source=police)
    first = post(notifications, registered, key)
    assert first.status_code == 202, first.text
    again = post(notifications, registered, key)
    assert again.status_code == 200 and again.json() == {**first.json(), "status": "duplicate"}
    learnt(incidents, police, registered["id"])  # without waiting for it: the answer below says
    reused = example_event("gvi.incident.reported.v1", id=registered["id"], source=police)
    answer = post(incidents, reused, key)
    assert answer.status_code == 409, answer.text
    assert answer.json()["errors"] == [{"field": "id", "message": (
        f"id {registered['id']!r} was already used by /agencies/police for a gvi.group.registered.v1 "
        "event at the notifications intake; every event from one source needs its own id: give this "
        "event a new id")}]
    fresh_incident = example_event("gvi.incident.reported.v1", source=police)
    batch = incidents.post("/v1/events", content=json.dumps([fresh_incident, reused]),
                           headers={"content-type": "application/cloudevents-batch+json",
                                    "authorization": f"Bearer {key}"})
    assert batch.status_code == 409 and [e["field"] for e in batch.json()["errors"]] == ["[1].id"]
    retraction = example_event("gvi.event.retracted.v1", source=police,
                               data_overrides={"retracted_event_id": registered["id"]})
    misplaced = post(incidents, retraction, key)
    assert misplaced.status_code == 422
    assert "post the retraction to the notifications intake" in misplaced.text
    with running(Service.INCIDENTS, kafka_broker.bootstrap) as restarted:
        # ready only once its ledger has read every source topic: no waiting needed
        assert post(restarted, reused, key).status_code == 409
    written = {json.loads(r.value)["id"] for r in read_topic(kafka_broker.bootstrap, "incidents")}
    assert not written & {registered["id"], fresh_incident["id"], retraction["id"]}
    assert len(records_of(kafka_broker.bootstrap, "notifications", registered["id"])) == 1


def test_two_sources_may_give_the_same_id_to_events_at_different_intakes(
        intakes: Callable[[Service], TestClient], kafka_broker: Any) -> None:
    shared = f"shared-{time.time_ns()}"
    registered = example_event("gvi.group.registered.v1", id=shared, source=SOURCES["police"])
    assert post(intakes(Service.NOTIFICATIONS), registered, "dev-police-key").status_code == 202
    sanctions = intakes(Service.SANCTIONS)
    assert learnt(sanctions, SOURCES["police"], shared)
    sanction = example_event("gvi.sanction.recorded.v1", id=shared, source=SOURCES["prosecutor"],
                             data_overrides={"kind": "prosecution"})
    answer = post(sanctions, sanction, "dev-prosecutor-key")
    assert answer.status_code == 202, answer.text
    assert len(records_of(kafka_broker.bootstrap, "sanctions", shared)) == 1
    assert len(records_of(kafka_broker.bootstrap, "notifications", shared)) == 1


def test_refused_requests_publish_nothing(
        intakes: Callable[[Service], TestClient], kafka_broker: Any) -> None:
    client = intakes(Service.INCIDENTS)
    before = len(read_topic(kafka_broker.bootstrap, "incidents"))
    event = example_event("gvi.incident.reported.v1")
    assert post(client, event, "wrong-key").status_code == 401
    assert post(client, event, "dev-municipality-key").status_code == 403
    spoofed = example_event("gvi.incident.reported.v1", source="/agencies/prosecutor")
    assert post(client, spoofed, "dev-police-key").status_code == 403
    bad = example_event("gvi.incident.reported.v1", data_overrides={"kind": "stabbing"})
    assert post(client, bad, "dev-police-key").status_code == 422
    assert post(client, example_event("gvi.group.registered.v1"), "dev-police-key").status_code == 400
    assert post(client, event, "dev-police-key").status_code == 202
    conflicting = {**event, "data": {**event["data"], "killed": 9}}
    assert post(client, conflicting, "dev-police-key").status_code == 409
    assert len(read_topic(kafka_broker.bootstrap, "incidents")) == before + 1


def test_duplicate_is_one_record_also_across_a_restart(kafka_broker: Any) -> None:
    event = example_event("gvi.incident.reported.v1")
    with running(Service.INCIDENTS, kafka_broker.bootstrap) as client:
        first = post(client, event, "dev-police-key")
        assert first.status_code == 202
        again = post(client, event, "dev-police-key")
        assert again.status_code == 200 and again.json() == {**first.json(), "status": "duplicate"}
    with running(Service.INCIDENTS, kafka_broker.bootstrap) as restarted:
        after_restart = post(restarted, event, "dev-police-key")
        assert after_restart.status_code == 200
        assert after_restart.json() == {**first.json(), "status": "duplicate"}
        changed = {**event, "data": {**event["data"], "injured": 4}}
        assert post(restarted, changed, "dev-police-key").status_code == 409
    assert len(records_of(kafka_broker.bootstrap, "incidents", event["id"])) == 1


def test_broker_down_is_503_and_nothing_is_published_later(kafka_broker: Any) -> None:
    """One publishing lane, warmed up, so the failing requests meet a producer that has buffered
    them; after the broker is back nothing probes or posts for a while, so a producer that kept
    the records would deliver them unprompted."""
    event = example_event("gvi.incident.reported.v1")
    batch = [example_event("gvi.incident.reported.v1") for _ in range(3)]
    batch_headers = {"content-type": "application/cloudevents-batch+json",
                     "authorization": "Bearer dev-police-key"}
    with running(Service.INCIDENTS, kafka_broker.bootstrap, GVI_PUBLISH_TIMEOUT_SECONDS=3,
                 GVI_PUBLISH_LANES=1) as client:
        warm = [example_event("gvi.incident.reported.v1") for _ in range(4)]
        assert client.post("/v1/events", content=json.dumps(warm), headers=batch_headers).status_code == 202
        kafka_broker.stop()
        try:
            answer = post(client, event, "dev-police-key")
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"]
            batch_answer = client.post("/v1/events", content=json.dumps(batch), headers=batch_headers)
            assert batch_answer.status_code == 503
            assert client.get("/readyz").status_code == 503
        finally:
            kafka_broker.start()
        time.sleep(12)  # longer than the transaction timeout and any producer retry
        ids = {event["id"]} | {e["id"] for e in batch}
        assert [r for r in read_topic(kafka_broker.bootstrap, "incidents")
                if json.loads(r.value)["id"] in ids] == []
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready again after the broker came back"
            time.sleep(0.5)
        retried = post(client, event, "dev-police-key")
        assert retried.status_code == 202, retried.text
        batch_retried = client.post("/v1/events", content=json.dumps(batch), headers=batch_headers)
        assert batch_retried.status_code == 202, batch_retried.text
    landed = [r for r in read_topic(kafka_broker.bootstrap, "incidents") if json.loads(r.value)["id"] in ids]
    assert len(landed) == 4


def test_all_types_are_covered() -> None:
    assert set(POSTER) | {"gvi.event.retracted.v1"} == set(EVENT_TYPES)
