"""The intake's HTTP behaviour as an agency system sees it, with the fake publisher.

The same behaviours are checked against the real broker in tests/integration/test_intake_kafka.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.contracts import Service
from services.intake.agencies import ConfigError, load_agencies
from services.intake.api import Adapters, create_app
from services.intake.errors import BrokerUnavailable
from services.intake.intake import DIGEST_HEADER
from services.intake.ledger import Receipt, ReceiptLedger
from services.intake.publishing import FakePublisher, OutgoingRecord, Placement
from services.intake.settings import IntakeSettings
from services.privacy.store import ClaimGate
from tests.examples import example_event

AGENCIES = Path("deploy/config/agencies.dev.toml")
STRUCTURED = {"content-type": "application/cloudevents+json"}
BATCH = {"content-type": "application/cloudevents-batch+json"}
NOW = datetime(2020, 5, 1, 12, 0, tzinfo=UTC)


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


POLICE = auth("dev-police-key")


class Intake:
    def __init__(self, client: TestClient, publisher: FakePublisher) -> None:
        self.client = client
        self.publisher = publisher

    def post(self, event: object, key: str = "dev-police-key", headers: dict[str, str] | None = None):
        return self.client.post("/v1/events", content=json.dumps(event),
                                headers={**STRUCTURED, **auth(key), **(headers or {})})

    def post_batch(self, events: list[object], key: str = "dev-police-key"):
        return self.client.post("/v1/events", content=json.dumps(events), headers={**BATCH, **auth(key)})

    @property
    def records(self) -> list[dict[str, object]]:
        return [json.loads(r.value) for r, _ in self.publisher.log]


def build(service: Service, env: str = "development", publisher: FakePublisher | None = None,
          ledger: ReceiptLedger | None = None) -> Intake:
    publisher = publisher or FakePublisher()
    ledger = ReceiptLedger() if ledger is None else ledger  # an empty ledger is falsy

    async def ready() -> bool:
        return await publisher.is_reachable()

    settings = IntakeSettings(GVI_ENV=env, GVI_AGENCIES_FILE=AGENCIES)
    app = create_app(service, settings, adapters=Adapters(publisher, ledger, ready), clock=lambda: NOW)
    return Intake(TestClient(app), publisher)


@pytest.fixture
def incidents() -> Iterator[Intake]:
    intake = build(Service.INCIDENTS)
    with intake.client:
        yield intake


@pytest.fixture
def sanctions() -> Iterator[Intake]:
    intake = build(Service.SANCTIONS)
    with intake.client:
        yield intake


def incident(**data: object) -> dict[str, object]:
    return example_event("gvi.incident.reported.v1", data_overrides=data or None)


def test_structured_event_is_published_with_the_agency_and_a_receipt(incidents: Intake) -> None:
    event = incident()
    answer = incidents.post(event)
    assert answer.status_code == 202, answer.text
    receipt = answer.json()
    assert receipt["status"] == "accepted"
    assert receipt["id"] == event["id"] and receipt["topic"] == "incidents"
    assert receipt["recordedtime"] == "2020-05-01T12:00:00Z"
    [record] = incidents.records
    assert record["agency"] == "police" and record["source"] == "/agencies/police"
    assert record["recordedtime"] == "2020-05-01T12:00:00Z"
    [(out, _)] = incidents.publisher.log
    assert out.key == f"incident:{event['data']['incident_id']}"


def test_binary_mode_is_accepted(incidents: Intake) -> None:
    event = incident()
    headers = {f"ce-{k}": str(v) for k, v in event.items() if k not in ("data", "datacontenttype")}
    answer = incidents.client.post("/v1/events", content=json.dumps(event["data"]),
                                   headers={"content-type": "application/json", **headers, **POLICE})
    assert answer.status_code == 202, answer.text
    assert incidents.records[0]["data"]["incident_id"] == event["data"]["incident_id"]


def test_batch_is_published_atomically_in_order(incidents: Intake) -> None:
    events = [incident(incident_id=f"I-{i}") for i in range(5)]
    answer = incidents.post_batch(events)
    assert answer.status_code == 202, answer.text
    assert [r["id"] for r in answer.json()["receipts"]] == [e["id"] for e in events]
    assert [r["data"]["incident_id"] for r in incidents.records] == [f"I-{i}" for i in range(5)]


def test_one_bad_event_in_a_batch_publishes_nothing_and_names_it(incidents: Intake) -> None:
    events = [incident(), incident(kind="stabbing"), incident()]
    answer = incidents.post_batch(events)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["[1].data.kind"]
    assert incidents.records == []


def test_missing_and_unknown_keys_are_refused(incidents: Intake) -> None:
    answer = incidents.client.post("/v1/events", content=json.dumps(incident()), headers=STRUCTURED)
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert incidents.post(incident(), key="not-a-key").status_code == 401
    assert incidents.records == []


def test_type_outside_the_role_is_forbidden(sanctions: Intake) -> None:
    arrest = example_event("gvi.sanction.recorded.v1", source="/agencies/prosecutor",
                           data_overrides={"kind": "arrest"})
    answer = sanctions.post(arrest, key="dev-prosecutor-key")
    assert answer.status_code == 403
    assert "may not post gvi.sanction.recorded.v1 of 'arrest'" in answer.text
    prosecution = example_event("gvi.sanction.recorded.v1", source="/agencies/prosecutor",
                                data_overrides={"kind": "prosecution"})
    assert sanctions.post(prosecution, key="dev-prosecutor-key").status_code == 202


def test_spoofed_source_is_forbidden(incidents: Intake) -> None:
    answer = incidents.post(example_event("gvi.incident.reported.v1", source="/agencies/probation"))
    assert answer.status_code == 403
    assert answer.json()["errors"] == [{"field": "source",
                                        "message": "must be your agency's own source '/agencies/police'"}]
    assert incidents.records == []


def test_wrong_service_names_the_right_one(incidents: Intake) -> None:
    answer = incidents.post(example_event("gvi.group.registered.v1"))
    assert answer.status_code == 400
    assert "taken by the notifications service" in answer.text


def test_bad_fields_are_listed(incidents: Intake) -> None:
    answer = incidents.post(incident(killed=-1, colour="red"))
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert fields == {"data.killed", "data.colour"}
    assert incidents.records == []


def test_repeat_gives_the_original_receipt_and_no_second_record(incidents: Intake) -> None:
    event = incident()
    first = incidents.post(event)
    again = incidents.post(event)
    assert again.status_code == 200
    assert again.json() == {**first.json(), "status": "duplicate"}
    assert len(incidents.records) == 1


def test_same_id_with_other_content_is_a_conflict(incidents: Intake) -> None:
    event = incident()
    assert incidents.post(event).status_code == 202
    changed = {**event, "data": {**event["data"], "killed": 3}}
    answer = incidents.post(changed)
    assert answer.status_code == 409
    assert answer.json()["errors"][0]["field"] == "id"
    assert len(incidents.records) == 1


@pytest.fixture
def two_intakes() -> Iterator[tuple[Intake, Intake]]:
    """Notifications and incidents over one ledger and one log: what the receipt feeds, which read
    every source topic, make of it once they have tailed each other's records."""
    publisher, ledger = FakePublisher(), ReceiptLedger()
    notifications = build(Service.NOTIFICATIONS, publisher=publisher, ledger=ledger)
    incidents = build(Service.INCIDENTS, publisher=publisher, ledger=ledger)
    with notifications.client, incidents.client:
        yield notifications, incidents


def test_an_id_the_source_used_at_another_intake_is_a_conflict_that_names_it(
        two_intakes: tuple[Intake, Intake]) -> None:
    notifications, incidents = two_intakes
    registered = example_event("gvi.group.registered.v1", id="X-1")
    assert notifications.post(registered).status_code == 202
    answer = incidents.post(example_event("gvi.incident.reported.v1", id="X-1"))
    assert answer.status_code == 409, answer.text
    [error] = answer.json()["errors"]
    assert error == {"field": "id", "message": (
        "id 'X-1' was already used by /agencies/police for a gvi.group.registered.v1 event at the "
        "notifications intake; every event from one source needs its own id: give this event a new id")}
    assert [r["type"] for r in notifications.records] == ["gvi.group.registered.v1"]


def test_a_batch_with_an_id_used_at_another_intake_is_refused_whole(
        two_intakes: tuple[Intake, Intake]) -> None:
    notifications, incidents = two_intakes
    assert notifications.post(example_event("gvi.group.registered.v1", id="X-2")).status_code == 202
    batch = [incident(), example_event("gvi.incident.reported.v1", id="X-2"), incident()]
    answer = incidents.post_batch(batch)
    assert answer.status_code == 409
    [error] = answer.json()["errors"]
    assert error["field"] == "[1].id" and "at the notifications intake" in error["message"]
    assert len(notifications.records) == 1


def test_another_source_may_use_the_same_id_at_another_intake(two_intakes: tuple[Intake, Intake]) -> None:
    notifications, incidents = two_intakes
    warning = example_event("gvi.warning.delivered.v1", id="X-3", source="/agencies/probation")
    assert notifications.post(warning, key="dev-probation-key").status_code == 202
    assert incidents.post(example_event("gvi.incident.reported.v1", id="X-3")).status_code == 202
    assert len(incidents.records) == 2


def test_a_retraction_names_the_one_event_of_its_id_at_the_intake_that_accepted_it(
        two_intakes: tuple[Intake, Intake]) -> None:
    notifications, incidents = two_intakes
    assert notifications.post(example_event("gvi.group.registered.v1", id="X-4")).status_code == 202
    retraction = example_event("gvi.event.retracted.v1", data_overrides={"retracted_event_id": "X-4"})
    answer = incidents.post(retraction)
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["field"] == "data.retracted_event_id"
    assert "accepted by the notifications intake, not incidents" in error["message"]
    assert len(notifications.records) == 1
    accepted = notifications.post(retraction)
    assert accepted.status_code == 202 and accepted.json()["topic"] == "notifications"
    again = incidents.post(retraction)  # the same event again, wherever it is posted, is a repeat
    assert again.status_code == 200 and again.json() == {**accepted.json(), "status": "duplicate"}
    assert len(notifications.records) == 2


def test_broker_down_is_503_with_retry_after_and_nothing_published() -> None:
    publisher = FakePublisher(reachable=False)
    intake = build(Service.INCIDENTS, publisher=publisher)
    with intake.client:
        event = incident()
        answer = intake.post(event)
        assert answer.status_code == 503 and answer.headers["retry-after"]
        assert intake.client.get("/readyz").status_code == 503
        publisher.reachable = True
        assert intake.post(event).status_code == 202
        assert intake.client.get("/readyz").status_code == 200


@dataclass
class CommitInDoubt(FakePublisher):
    """A broker that loses the connection while it commits: the records may be in the log (as the
    real broker does when it completes a commit after a restart) and the answer is 503 with a
    `settled` future, which the test completes (the receipt feed's part) with `settle`."""

    commits: bool = True
    failing: bool = True
    settled: asyncio.Future[None] | None = None
    kept: list[tuple[OutgoingRecord, Placement]] = field(default_factory=list)

    async def publish(self, records: Sequence[OutgoingRecord], *, atomic: bool,
                      gate: ClaimGate | None = None) -> list[Placement]:
        if not self.failing:
            return await super().publish(records, atomic=atomic, gate=gate)
        self.failing = False
        placements = await super().publish(records, atomic=atomic, gate=gate)
        self.kept = list(zip(records, placements, strict=True))
        if not self.commits:
            del self.log[-len(records):]
        self.loop, self.settled = asyncio.get_running_loop(), asyncio.get_running_loop().create_future()
        raise BrokerUnavailable("lost while committing", settled=self.settled)

    def settle(self, ledger: ReceiptLedger) -> None:
        if self.commits:  # what the receipt feed reads once the commit is readable
            ledger.add(receipt_of(record, placement) for record, placement in self.kept)
        assert self.settled is not None
        settled = self.settled
        self.loop.call_soon_threadsafe(settled.set_result, None)
        for _ in range(100):
            if settled.done():
                return
            time.sleep(0.01)


def receipt_of(record: OutgoingRecord, placement: Placement) -> Receipt:
    event = json.loads(record.value)
    digest = dict(record.headers)[DIGEST_HEADER].decode()
    return Receipt(event["id"], event["source"], event["type"], placement.topic, placement.partition,
                   placement.offset, event["recordedtime"], record.key, digest)


@pytest.mark.parametrize("committed", [True, False])
def test_a_retry_after_a_commit_in_doubt_never_writes_a_second_copy(committed: bool) -> None:
    publisher, ledger = CommitInDoubt(commits=committed), ReceiptLedger()
    intake = build(Service.INCIDENTS, publisher=publisher, ledger=ledger)
    with intake.client:
        event = incident()
        first = intake.post(event)
        assert first.status_code == 503 and first.headers["retry-after"]
        retry = intake.post(event)  # before the outcome is settled: no second copy, no guess
        assert retry.status_code == 503, retry.text
        assert retry.json()["errors"] == [{"field": "id", "message": "not settled yet"}]
        assert "earlier attempt with this id" in retry.json()["message"]
        assert len(intake.records) == (1 if committed else 0)
        other = intake.post(incident())  # other ids are not held up
        assert other.status_code == 202
        publisher.settle(ledger)
        retry = intake.post(event)
        if committed:
            assert retry.status_code == 200 and retry.json()["status"] == "duplicate"
            assert retry.json()["offset"] == publisher.kept[0][1].offset
        else:
            assert retry.status_code == 202
        assert [r["id"] for r in intake.records].count(event["id"]) == 1


def test_retraction_follows_the_retracted_event(incidents: Intake) -> None:
    event = incident()
    incidents.post(event)
    retraction = example_event("gvi.event.retracted.v1",
                               data_overrides={"retracted_event_id": event["id"]})
    assert incidents.post(retraction).status_code == 202
    original, retracted = incidents.publisher.log
    assert retracted[0].key == original[0].key and retracted[1].partition == original[1].partition


def test_retraction_of_an_unknown_event_says_where_to_post_it(incidents: Intake) -> None:
    retraction = example_event("gvi.event.retracted.v1", data_overrides={"retracted_event_id": "nope"})
    answer = incidents.post(retraction)
    assert answer.status_code == 422
    assert "post the retraction to the service that accepted the event" in answer.text


def test_plain_json_without_cloudevents_headers_is_415(incidents: Intake) -> None:
    answer = incidents.client.post("/v1/events", content=json.dumps(incident()),
                                   headers={"content-type": "application/json", **POLICE})
    assert answer.status_code == 415
    assert "application/cloudevents+json" in answer.text


def test_oversized_batch_is_413(incidents: Intake) -> None:
    answer = incidents.post_batch([incident() for _ in range(1001)])
    assert answer.status_code == 413
    assert incidents.records == []


def test_malformed_json_is_a_clear_422(incidents: Intake) -> None:
    answer = incidents.client.post("/v1/events", content=b"{not json",
                                   headers={**STRUCTURED, **POLICE})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "(body)"


def test_dev_keys_are_refused_outside_development() -> None:
    with pytest.raises(ConfigError, match="development API key"):
        build(Service.INCIDENTS, env="production")


def test_metrics_count_by_type_and_reason_without_personal_data(sanctions: Intake) -> None:
    arrest = example_event("gvi.sanction.recorded.v1",
                           data_overrides={"kind": "arrest", "person_ref": "P-SECRET-123"})
    assert sanctions.post(arrest).status_code == 202
    bad = example_event("gvi.sanction.recorded.v1",
                        data_overrides={"kind": "nope", "person_ref": "P-SECRET-456"})
    assert sanctions.post(bad).status_code == 422
    text = sanctions.client.get("/metrics").text
    assert 'gvi_intake_events_accepted_total{service="sanctions",type="gvi.sanction.recorded.v1"} 1.0' in text
    assert ('gvi_intake_events_rejected_total{reason="invalid_event",service="sanctions",'
            'type="gvi.sanction.recorded.v1"} 1.0') in text
    assert "P-SECRET" not in text


def test_metrics_say_whether_the_broker_answers_at_each_scrape() -> None:
    publisher = FakePublisher()
    intake = build(Service.NOTIFICATIONS, publisher=publisher)
    gauge = 'gvi_intake_broker_ready{service="notifications"}'
    with intake.client:
        assert f"{gauge} 1.0" in intake.client.get("/metrics").text
        publisher.reachable = False
        assert f"{gauge} 0.0" in intake.client.get("/metrics").text
        publisher.reachable = True
        assert f"{gauge} 1.0" in intake.client.get("/metrics").text


def test_dev_agencies_file_grants_the_documented_roles() -> None:
    directory = load_agencies(AGENCIES)
    by_name = {a.name: a for a in directory.agencies}
    assert by_name["municipality"].may("gvi.warning.delivered.v1", "home_visit")
    assert not by_name["municipality"].may("gvi.warning.delivered.v1", "call_in")
    assert by_name["probation"].may("gvi.warning.delivered.v1", "call_in")
    assert not by_name["civil-society"].may("gvi.exit.milestone.v1", None)
    assert directory.authenticate("dev-civil-key") == by_name["civil-society"]


def test_nothing_is_accepted_until_the_receipts_are_loaded() -> None:
    publisher = FakePublisher()
    loaded = False

    async def ready() -> bool:
        return loaded

    settings = IntakeSettings(GVI_ENV="development", GVI_AGENCIES_FILE=AGENCIES)
    app = create_app(Service.INCIDENTS, settings,
                     adapters=Adapters(publisher, ReceiptLedger(), ready, lambda: loaded))
    with TestClient(app) as client:
        intake = Intake(client, publisher)
        answer = intake.post(incident())
        assert answer.status_code == 503 and "loading the receipts" in answer.text
        loaded = True
        assert intake.post(incident()).status_code == 202
        assert len(intake.records) == 1


def test_refusals_before_parsing_are_counted_too(incidents: Intake) -> None:
    assert incidents.post(incident(), key="nope").status_code == 401
    text = incidents.client.get("/metrics").text
    assert ('gvi_intake_events_rejected_total{reason="unauthenticated",service="incidents",'
            'type="unknown"} 1.0') in text


def test_a_misspelt_permission_is_refused_at_start(tmp_path: Path) -> None:
    config = AGENCIES.read_text().replace('"gvi.sanction.recorded.v1:arrest"',
                                          '"gvi.sanction.recorded.v1:arest"')
    (tmp_path / "agencies.toml").write_text(config)
    with pytest.raises(ConfigError, match="qualifier must be one of"):
        load_agencies(tmp_path / "agencies.toml")


def test_a_chunked_body_over_the_limit_is_413() -> None:
    settings = IntakeSettings(GVI_ENV="development", GVI_AGENCIES_FILE=AGENCIES, GVI_MAX_BODY_BYTES=2048)
    publisher = FakePublisher()

    async def ready() -> bool:
        return True

    app = create_app(Service.INCIDENTS, settings, adapters=Adapters(publisher, ReceiptLedger(), ready))

    def chunks() -> Iterator[bytes]:
        body = json.dumps([incident() for _ in range(10)]).encode()
        for i in range(0, len(body), 500):
            yield body[i:i + 500]

    with TestClient(app) as client:
        answer = client.post("/v1/events", content=chunks(), headers={**BATCH, **POLICE})
        assert answer.status_code == 413
        assert publisher.log == []


def test_a_batch_retraction_of_an_unknown_event_names_its_position(incidents: Intake) -> None:
    first = incident()
    retraction = example_event("gvi.event.retracted.v1", data_overrides={"retracted_event_id": "nope"})
    answer = incidents.post_batch([first, incident(), retraction])
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "[2].data.retracted_event_id"
    assert incidents.records == []


def test_a_batch_may_retract_an_event_of_the_same_batch(incidents: Intake) -> None:
    first = incident()
    retraction = example_event("gvi.event.retracted.v1", data_overrides={"retracted_event_id": first["id"]})
    assert incidents.post_batch([first, retraction]).status_code == 202
    (original, _), (retracted, _) = incidents.publisher.log
    assert retracted.key == original.key


def test_a_batch_cannot_retract_a_retraction(incidents: Intake) -> None:
    first = incident()
    retraction = example_event("gvi.event.retracted.v1", data_overrides={"retracted_event_id": first["id"]})
    second = example_event("gvi.event.retracted.v1",
                           data_overrides={"retracted_event_id": retraction["id"]})
    answer = incidents.post_batch([first, retraction, second])
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "[2].data.retracted_event_id"
    assert incidents.records == []


@pytest.mark.parametrize("body", [
    b'{"specversion": "1.0", "type": ["x"], "id": "a", "source": "/agencies/police"}',
    b'{"a": ' + b"1" * 5000 + b"}",
    b"[" * 100_000,
    b"\xff\xfe not utf-8",
])
def test_hostile_bodies_are_422_never_500(incidents: Intake, body: bytes) -> None:
    for headers in (STRUCTURED, BATCH):
        answer = incidents.client.post("/v1/events", content=body, headers={**headers, **POLICE})
        assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("time", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_times_that_overflow_in_utc_are_422(incidents: Intake, time: str) -> None:
    answer = incidents.post(example_event("gvi.incident.reported.v1", time=time))
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "time"


def test_binary_mode_refuses_undecodable_headers_and_data_headers(incidents: Intake) -> None:
    event = incident()
    headers = {f"ce-{k}": str(v) for k, v in event.items() if k not in ("data", "datacontenttype")}
    for extra in ({"ce-id": "%ED%A0%80"}, {"ce-data": "x"}):
        answer = incidents.client.post("/v1/events", content=json.dumps(event["data"]),
                                       headers={"content-type": "application/json", **headers, **extra,
                                                **POLICE})
        assert answer.status_code == 422, answer.text
    assert incidents.records == []


def test_the_fastapi_route_answers_as_the_plain_asgi_path() -> None:
    """POST /v1/events is served by a plain ASGI handler; FastAPI's declared route (reached under a
    root path, as behind a proxy) gives the same answers, headers and metrics."""
    direct, proxied = build(Service.INCIDENTS), build(Service.INCIDENTS)
    proxied.client = TestClient(proxied.client.app, root_path="/intake")

    def via_proxy(event: object, key: str = "dev-police-key") -> Any:
        return proxied.client.post("/intake/v1/events", content=json.dumps(event),
                                   headers={**STRUCTURED, **auth(key)})

    with direct.client, proxied.client:
        event = incident()
        answers = [direct.post(event), via_proxy(event), direct.post(event, key="nope"),
                   via_proxy(event, key="nope"), direct.post(incident(kind="picnic")),
                   via_proxy(incident(kind="picnic"))]
        first, second, *refusals = answers
        assert first.status_code == second.status_code == 202
        assert first.json() == second.json()
        for a, b in zip(refusals[::2], refusals[1::2], strict=True):
            assert (a.status_code, a.json(), a.headers.get("www-authenticate")) == (
                b.status_code, b.json(), b.headers.get("www-authenticate"))
            assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
        line = ('gvi_http_requests_total{method="POST",route="/v1/events",service="incidents",'
                'status="401"} 1.0')
        assert line in direct.client.get("/metrics").text
        assert line in proxied.client.get("/intake/metrics").text
        assert len(direct.publisher.log) == len(proxied.publisher.log) == 1
