"""The exported contract (docs/schemas/*.json, docs/asyncapi.yaml, docs/events.md) says what the
models say, resolves on its own, and is not stale."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from services.contracts import ALL_TOPICS, EVENT_TYPES, EventInvalid, owner_of, parse_event
from services.contracts import schema as export
from services.contracts.asyncapi import asyncapi_document
from services.contracts.event_schemas import json_schemas
from tests.examples import OMIT, example_event

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
ALL_TYPES = sorted(EVENT_TYPES)


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict[str, Any]]:
    return json_schemas()


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    return asyncapi_document()


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema)


def test_one_schema_per_type_each_a_valid_draft_2020_12_schema(schemas: dict[str, dict[str, Any]]) -> None:
    assert list(schemas) == list(EVENT_TYPES)
    for event_type, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == f"https://gvi.example/schemas/{event_type}.json"
        assert schema["additionalProperties"] is False
        assert schema["properties"]["type"]["const"] == event_type
        assert schema["properties"]["specversion"]["const"] == "1.0"
        assert schema["properties"]["datacontenttype"]["const"] == "application/json"
        assert {"id", "source", "type", "time", "data"} <= set(schema["required"])
        assert schema["properties"]["recordedtime"]["readOnly"] is True
        assert schema["properties"]["agency"]["readOnly"] is True


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_the_schema_accepts_the_example_and_refuses_an_unknown_field(
        event_type: str, schemas: dict[str, dict[str, Any]]) -> None:
    check = validator(schemas[event_type])
    check.validate(example_event(event_type))
    assert not check.is_valid(example_event(event_type, data_overrides={"colour": "red"}))
    assert not check.is_valid(example_event(event_type, colour="red"))
    other = next(t for t in ALL_TYPES if t != event_type)
    assert not check.is_valid(example_event(event_type, type=other))


@pytest.mark.parametrize(("event_type", "data_overrides"), [
    ("gvi.sanction.recorded.v1", {"group_id": OMIT, "person_ref": OMIT}),
    ("gvi.sanction.recorded.v1", {"group_id": None, "person_ref": None}),
    ("gvi.warning.delivered.v1", {"call_in_id": OMIT}),
    ("gvi.warning.delivered.v1", {"call_in_id": None}),
    ("gvi.incident.reported.v1", {"suspected_group_ids": ["g1", "g1"]}),
    ("gvi.incident.reported.v1", {"victim_group_ids": [f"g{i}" for i in range(101)]}),
    ("gvi.callin.scheduled.v1", {"invited_group_ids": []}),
    ("gvi.incident.reported.v1", {"kind": "riot"}),
    ("gvi.group.registered.v1", {"group_id": "-starts-with-a-dash"}),
])
def test_the_schema_refuses_what_the_intake_refuses(
        event_type: str, data_overrides: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> None:
    raw = example_event(event_type, data_overrides=data_overrides)
    with pytest.raises(EventInvalid):
        parse_event(raw)
    assert not validator(schemas[event_type]).is_valid(raw)


def test_the_checked_in_documents_are_not_stale() -> None:
    stale = export.stale_files(ROOT)
    assert stale == [], f"run `{export.REGENERATE}`: stale {stale}"


def test_check_names_the_stale_files_and_write_repairs_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export.main(["--root", str(tmp_path)]) == 0
    assert export.main(["--check", "--root", str(tmp_path)]) == 0
    edited = tmp_path / "docs/schemas/gvi.incident.reported.v1.json"
    edited.write_text(edited.read_text().replace("shooting", "shootout"))
    orphan = tmp_path / "docs/schemas/gvi.incident.renamed.v1.json"
    orphan.write_text("{}\n")
    (tmp_path / export.ASYNCAPI_PATH).unlink()
    capsys.readouterr()

    assert export.main(["--check", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    for path in ("docs/schemas/gvi.incident.reported.v1.json", "docs/schemas/gvi.incident.renamed.v1.json",
                 "docs/asyncapi.yaml"):
        assert path in err
    assert export.REGENERATE in err

    assert export.main(["--root", str(tmp_path)]) == 0
    assert not orphan.exists()
    assert export.stale_files(tmp_path) == []


def test_generation_is_deterministic() -> None:
    assert export.generated_files() == export.generated_files()


def test_the_asyncapi_file_is_the_generated_document(asyncapi: dict[str, Any]) -> None:
    text = (ROOT / export.ASYNCAPI_PATH).read_text(encoding="utf-8")
    assert yaml.safe_load(text) == asyncapi
    assert "&id" not in text, "no YAML anchors: the document must read on its own"


def test_asyncapi_has_every_type_as_a_message_and_every_topic_as_a_channel(asyncapi: dict[str, Any]) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["info"]["title"] and asyncapi["info"]["version"] and asyncapi["info"]["description"]
    messages = asyncapi["components"]["messages"]
    for event_type in EVENT_TYPES:
        message = messages[event_type]
        assert message["contentType"] == "application/cloudevents+json"
        assert message["bindings"]["kafka"]["key"]["description"]
    channels = asyncapi["channels"]
    assert {topic.name for topic in ALL_TOPICS} == set(channels)
    for topic in ALL_TOPICS:
        assert channels[topic.name]["address"] == topic.name
    for event_type in EVENT_TYPES:
        owner = owner_of(event_type)
        carrying = {name for name, channel in channels.items() if event_type in channel["messages"]}
        expected = {owner.topic} if owner else {t.name for t in ALL_TOPICS if t.source}
        assert carrying == expected, event_type


def test_asyncapi_operations_send_from_the_intake_and_receive_for_consumers(asyncapi: dict[str, Any]) -> None:
    by_channel: dict[str, set[str]] = {}
    for operation in asyncapi["operations"].values():
        channel_ref = operation["channel"]["$ref"]
        by_channel.setdefault(channel_ref, set()).add(operation["action"])
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel_ref + "/messages/"), "message not of its channel"
    for topic in ALL_TOPICS:
        if topic.source:
            assert by_channel[f"#/channels/{topic.name}"] == {"send", "receive"}


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                yield item
            else:
                yield from refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_every_ref_in_the_asyncapi_document_resolves_inside_it(asyncapi: dict[str, Any]) -> None:
    found = list(refs(asyncapi))
    assert found
    for ref in found:
        resolve(asyncapi, ref)
    assert "$defs" not in json.dumps(asyncapi), "nested definitions must be hoisted to components.schemas"


def test_every_ref_in_each_json_schema_resolves_inside_it(schemas: dict[str, dict[str, Any]]) -> None:
    for schema in schemas.values():
        for ref in refs(schema):
            resolve(schema, ref)


@pytest.mark.parametrize("event_type", ALL_TYPES)
def test_a_kafka_record_matches_its_asyncapi_message_payload(
        event_type: str, asyncapi: dict[str, Any]) -> None:
    """The AsyncAPI payloads are checked as draft-07 (the AsyncAPI schema format's base)."""
    registry: Registry[Any] = Registry().with_resource("urn:gvi:asyncapi",
                                                       Resource.from_contents(asyncapi, DRAFT7))
    check = Draft7Validator({"$ref": f"urn:gvi:asyncapi#/components/messages/{event_type}/payload"},
                            registry=registry)
    posted = parse_event(example_event(event_type))
    record = posted.accepted(recordedtime=datetime(2024, 3, 1, 21, 15, tzinfo=UTC), agency="police")
    check.validate(json.loads(record.to_json()))
    assert not check.is_valid(posted.to_dict()), "a record in Kafka carries recordedtime and agency"


def json_examples(markdown: str) -> list[dict[str, Any]]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", markdown, flags=re.DOTALL)]


def test_the_event_catalogue_documents_every_type_with_an_example_that_parses() -> None:
    markdown = (ROOT / "docs/events.md").read_text(encoding="utf-8")
    examples = [raw for raw in json_examples(markdown) if raw.get("specversion") == "1.0"]
    assert {raw["type"] for raw in examples} == set(EVENT_TYPES)
    for raw in examples:
        parse_event(raw)
    for event_type in EVENT_TYPES:
        assert f"## `{event_type}`" in markdown


def test_the_event_catalogue_lists_every_field_of_every_type() -> None:
    markdown = (ROOT / "docs/events.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ", markdown, flags=re.MULTILINE)
    for event_type, model in EVENT_TYPES.items():
        [section] = [s for s in sections if s.startswith(f"`{event_type}`")]
        for field in model.model_fields:
            assert f"| `{field}` |" in section, f"docs/events.md: {event_type} does not list {field}"
