"""The intake refuses what the published contract refuses (issue 22), at the transport (the body is
JSON in UTF-8 with each key once; a declared charset is utf-8; binary-mode headers come once, in
ASCII) and in the event (strict types, RFC 3339 times, no control or bidi characters in ids and
names). Every refusal is a 4xx whose message says what to change, and nothing is published. The
OpenAPI document declares the request bodies from the contract's schemas."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.datastructures import Headers

from services.contracts import Service, types_owned_by
from services.intake.binding import parse_request
from services.intake.errors import InvalidEvent, UnsupportedMedia
from tests.examples import example_event
from tests.unit.test_intake import BATCH, POLICE, STRUCTURED, Intake, build, incident

pytestmark = pytest.mark.unit


@pytest.fixture
def incidents() -> Iterator[Intake]:
    intake = build(Service.INCIDENTS)
    with intake.client:
        yield intake


def parse(body: bytes, content_type: str = "application/cloudevents+json", **headers: str) -> Any:
    return parse_request(Headers({"content-type": content_type, **headers}), body, max_batch=10)


def body_of(event: object) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


def with_repeated_key(event: dict[str, Any], key: str, value: object) -> bytes:
    """The event's JSON with `"key": value` added again inside its data object."""
    text = json.dumps(event)
    return text.replace('"data": {', f'"data": {{{json.dumps(key)}: {json.dumps(value)}, ', 1).encode()


# --- the transport, as the binding parses it ---------------------------------------------------

def test_a_repeated_key_is_refused_naming_the_key() -> None:
    body = with_repeated_key(incident(killed=0), "killed", 3)
    with pytest.raises(InvalidEvent) as caught:
        parse(body)
    [error] = caught.value.errors
    assert error.field == "(body)" and "'killed' appears more than once" in error.message


def test_a_repeated_key_at_the_top_is_refused_too() -> None:
    body = b'{"id": "a", "id": "b"}'
    with pytest.raises(InvalidEvent, match="repeats a key") as caught:
        parse(body)
    assert "'id'" in caught.value.errors[0].message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_body_not_in_utf8_or_with_a_bom_is_refused_saying_send_utf8(encoding: str) -> None:
    body = json.dumps(incident()).encode(encoding)
    with pytest.raises(InvalidEvent) as caught:
        parse(body)
    assert "send the JSON as UTF-8" in caught.value.errors[0].message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant: str) -> None:
    body = json.dumps(incident()).replace('"killed": 0', f'"killed": {constant}').encode()
    with pytest.raises(InvalidEvent, match="not valid JSON") as caught:
        parse(body)
    assert f"{constant} is not a JSON number" in caught.value.errors[0].message


@pytest.mark.parametrize("content_type", ["application/cloudevents+json; charset=utf-16",
                                          "application/cloudevents-batch+json; charset=ISO-8859-1",
                                          'application/json; charset="latin1"'])
def test_a_declared_charset_other_than_utf8_is_415(content_type: str) -> None:
    with pytest.raises(UnsupportedMedia, match="encode the body as UTF-8"):
        parse(b"[]", content_type, **{"ce-specversion": "1.0"})


@pytest.mark.parametrize("content_type", ["application/cloudevents+json; charset=utf-8",
                                          'application/cloudevents+json;charset="UTF-8"'])
def test_charset_utf8_may_be_declared(content_type: str) -> None:
    assert parse(body_of(incident()), content_type).events[0]["type"] == "gvi.incident.reported.v1"


def test_a_repeated_binary_mode_header_is_refused() -> None:
    headers = Headers(raw=[(b"content-type", b"application/json"), (b"ce-specversion", b"1.0"),
                           (b"ce-id", b"e-1"), (b"ce-id", b"e-2")])
    with pytest.raises(InvalidEvent) as caught:
        parse_request(headers, b"{}", max_batch=10)
    assert caught.value.errors[0].field == "id" and "more than once" in caught.value.errors[0].message


def test_a_binary_mode_header_outside_ascii_must_be_percent_encoded() -> None:
    headers = Headers(raw=[(b"content-type", b"application/json"), (b"ce-specversion", b"1.0"),
                           (b"ce-subject", "grupp-ä".encode())])
    with pytest.raises(InvalidEvent) as caught:
        parse_request(headers, b"{}", max_batch=10)
    assert "percent-encode" in caught.value.errors[0].message


# --- over HTTP: every refusal a 4xx that says what to change, nothing published ----------------

def binary_headers(event: dict[str, Any], **overrides: str) -> dict[str, str]:
    headers = {f"ce-{k}": str(v) for k, v in event.items() if k not in ("data", "datacontenttype")}
    return {"content-type": "application/json", **headers, **overrides, **POLICE}


HTTP_REFUSALS: dict[str, tuple[bytes, dict[str, str], int, str]] = {
    # name: (body, headers, status, what the answer says)
    "killed true": (body_of(incident(killed=True)), STRUCTURED, 422, "data.killed"),
    "killed '1'": (body_of(incident(killed="1")), STRUCTURED, 422, "data.killed"),
    "confirmed 'yes'": (body_of(incident(confirmed="yes")), STRUCTURED, 422, "data.confirmed"),
    "epoch time": (body_of(example_event("gvi.incident.reported.v1", time=1709327640)), STRUCTURED, 422,
                   "RFC 3339"),
    "epoch time in a batch": (body_of([incident(), example_event("gvi.incident.reported.v1",
                                                                 time=1709327640)]),
                              BATCH, 422, "[1].time"),
    "repeated key": (with_repeated_key(incident(), "killed", 3), STRUCTURED, 422, "'killed'"),
    "repeated key in a batch": (b"[" + with_repeated_key(incident(), "kind", "arson") + b"]", BATCH, 422,
                                "'kind'"),
    "UTF-16": (json.dumps(incident()).encode("utf-16"), STRUCTURED, 422, "UTF-8"),
    "UTF-16 without a BOM": (json.dumps(incident()).encode("utf-16-le"), STRUCTURED, 422, "UTF-8"),
    "UTF-8 BOM": (json.dumps(incident()).encode("utf-8-sig"), STRUCTURED, 422, "UTF-8"),
    "UTF-8 BOM in a batch": (json.dumps([incident()]).encode("utf-8-sig"), BATCH, 422, "UTF-8"),
    "charset utf-16": (json.dumps(incident()).encode("utf-16"),
                       {"content-type": "application/cloudevents+json; charset=utf-16"}, 415,
                       "encode the body as UTF-8"),
    "charset latin-1 on a UTF-8 body": (body_of(incident(area="Rosengård")),
                                        {"content-type": "application/cloudevents+json; charset=latin-1"},
                                        415, "encode the body as UTF-8"),
    "NUL in the id": (body_of(example_event("gvi.incident.reported.v1", id="e\x00-1")), STRUCTURED, 422,
                      "control characters"),
    "ESC in the id": (body_of(example_event("gvi.incident.reported.v1", id="e\x1b[8m-1")), STRUCTURED, 422,
                      "control characters"),
    "U+202E in the id": (body_of(example_event("gvi.incident.reported.v1", id="e-\u202e1")), STRUCTURED, 422,
                         "bidirectional"),
    "U+202E in the area": (body_of(incident(area="Rosen\u202egård")), STRUCTURED, 422, "data.area"),
    "ESC in free text": (body_of(example_event("gvi.incident.attributed.v1",
                                               data_overrides={"reason": "a\x1b[2J"})), STRUCTURED, 422,
                         "data.reason"),
}


@pytest.mark.parametrize("case", HTTP_REFUSALS)
def test_bad_input_is_a_4xx_that_says_what_to_change_and_nothing_is_published(
        incidents: Intake, case: str) -> None:
    body, headers, status, says = HTTP_REFUSALS[case]
    answer = incidents.client.post("/v1/events", content=body, headers={**headers, **POLICE})
    assert answer.status_code == status, answer.text
    assert says in answer.text
    assert incidents.records == []


def test_binary_mode_refuses_an_epoch_time_and_a_percent_encoded_nul(incidents: Intake) -> None:
    event = incident()
    for overrides in ({"ce-time": "1709327640"}, {"ce-id": "e%00-1"},
                      {"ce-source": "/agencies/%E2%80%AEpolice"}):
        answer = incidents.client.post("/v1/events", content=body_of(event["data"]),
                                       headers=binary_headers(event, **overrides))
        assert answer.status_code == 422, (overrides, answer.text)
    answer = incidents.client.post("/v1/events", content=body_of(event["data"]),
                                   headers=binary_headers(event, **{"content-type": "application/json; "
                                                                                    "charset=utf-16"}))
    assert answer.status_code == 415
    assert incidents.records == []


def test_binary_mode_refuses_a_repeated_header_over_http(incidents: Intake) -> None:
    event = incident()
    headers = [(k, v) for k, v in binary_headers(event).items()] + [("ce-id", "another-id")]
    answer = incidents.client.post("/v1/events", content=body_of(event["data"]), headers=headers)
    assert answer.status_code == 422 and "ce-id appears more than once" in answer.text
    assert incidents.records == []


def test_strict_input_that_follows_the_rules_is_accepted(incidents: Intake) -> None:
    arabic = "\u0645\u062c\u0645\u0648\u0639\u0629"
    event = example_event("gvi.incident.attributed.v1",
                          data_overrides={"reason": f"Omprövad.\n\tNy bedömning: \u202b{arabic}\u202c"})
    answer = incidents.client.post("/v1/events", content=body_of(event),
                                   headers={"content-type": "application/cloudevents+json; charset=UTF-8",
                                            **POLICE})
    assert answer.status_code == 202, answer.text
    assert incidents.records[0]["data"]["reason"] == event["data"]["reason"]


# --- the OpenAPI document ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    intake = build(Service.INCIDENTS)
    document: dict[str, Any] = intake.client.get("/openapi.json").json()
    return document


def request_schema(document: dict[str, Any], media: str) -> Draft202012Validator:
    """The request body schema of `media`, its references resolved within the document."""
    registry: Registry[Any] = Registry().with_resource("urn:gvi:openapi",
                                                       Resource.from_contents(document, DRAFT202012))
    pointer = f"/paths/~1v1~1events/post/requestBody/content/{media.replace('/', '~1')}/schema"
    return Draft202012Validator({"$ref": f"urn:gvi:openapi#{pointer}"}, registry=registry)


def test_openapi_declares_the_three_binding_modes_from_the_contract(openapi: dict[str, Any]) -> None:
    operation = openapi["paths"]["/v1/events"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/cloudevents+json", "application/cloudevents-batch+json",
                            "application/json"}
    owned = sorted(types_owned_by(Service.INCIDENTS))
    assert sorted(ref["$ref"].rsplit("/", 1)[1] for ref in content["application/cloudevents+json"]
                  ["schema"]["oneOf"]) == owned
    assert {p["name"] for p in operation["parameters"]} >= {"ce-specversion", "ce-id", "ce-source",
                                                            "ce-type", "ce-time"}
    assert openapi["components"]["securitySchemes"]["agencyKey"]["scheme"] == "bearer"


def test_openapi_request_bodies_accept_valid_events_and_refuse_the_bad_ones(openapi: dict[str, Any]) -> None:
    structured = request_schema(openapi, "application/cloudevents+json")
    batch = request_schema(openapi, "application/cloudevents-batch+json")
    binary = request_schema(openapi, "application/json")
    for event_type in types_owned_by(Service.INCIDENTS):
        event = example_event(event_type)
        structured.validate(event)
        batch.validate([event, example_event(event_type)])
        binary.validate(event["data"])
    assert not batch.is_valid([])
    for bad in (incident(killed=True), incident(killed="1"), incident(area="a\u202eb"),
                example_event("gvi.incident.reported.v1", time=1709327640),
                example_event("gvi.incident.reported.v1", id="e\x00"),
                example_event("gvi.group.registered.v1")):  # another intake's type
        assert not structured.is_valid(bad), bad
