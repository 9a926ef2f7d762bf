"""The event contract as published: AsyncAPI 3 documents with real payloads, one JSON
Schema per event type, and committed examples every later schema version must accept.
No infrastructure: the documents are built from the services' own subscribers."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hotline_shared.events import (
    EVENT_TYPES,
    TOPIC_OF_TYPE,
    TOPIC_UNIONS,
    parse_event,
    types_in,
)
from jsonschema import Draft202012Validator

from deploy import contracts

VERSIONED = re.compile(r"^(?P<family>.+)\.v(?P<version>\d+)$")


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return contracts.asyncapi_documents()


def test_the_committed_documents_and_schemas_are_current() -> None:
    stale = [
        str(path.relative_to(contracts.ROOT))
        for path, text in contracts.rendered().items()
        if not path.exists() or path.read_text() != text
    ]
    assert stale == [], f"stale contracts, run `make contracts`: {stale}"


def test_every_event_type_belongs_to_its_topics_union_and_only_that() -> None:
    for name, cls in EVENT_TYPES.items():
        holders = [topic for topic, union in TOPIC_UNIONS.items() if cls in types_in(union)]
        assert holders == [TOPIC_OF_TYPE[name]], name


def _payload_types(document: dict[str, Any], action: str) -> dict[str, set[str]]:
    """channel address → the event types its messages' payloads allow, for one action."""
    schemas = document["components"]["schemas"]
    found: dict[str, set[str]] = defaultdict(set)
    for operation in document["operations"].values():
        if operation["action"] != action:
            continue
        channel = document["channels"][operation["channel"]["$ref"].split("/")[-1]]
        for ref in channel["messages"].values():
            message = document["components"]["messages"][ref["$ref"].split("/")[-1]]
            payload = schemas[message["payload"]["$ref"].split("/")[-1]]
            for option in _options(payload, schemas):
                event = schemas[option.split("/")[-1]]
                assert event["properties"]["data"].get("$ref"), f"{option}: no data schema"
                found[channel["address"]].add(event["properties"]["type"]["const"])
    return found


def _options(payload: dict[str, Any], schemas: dict[str, Any]) -> list[str]:
    if "$ref" in payload:  # a handler's single parameter, or a one-type schema
        inner = schemas[payload["$ref"].split("/")[-1]]
        return (
            _options(inner, schemas)
            if "type" not in inner.get("properties", {})
            else [payload["$ref"]]
        )
    return [o["$ref"] for o in payload.get("oneOf", payload.get("anyOf", []))]


def _topic_types(topic: str) -> set[str]:
    return {name for name, t in TOPIC_OF_TYPE.items() if t == topic}


@pytest.mark.parametrize(
    ("service", "consumes"),
    [
        ("intake", {}),
        ("sessions", {
            "hotline.contacts.v1": {"hotline.contact.answered.v1", "hotline.contact.ended.v1",
                                    "hotline.contact.legal-hold-changed.v1"},
            "hotline.risk.v1": {"hotline.risk.assessed.v1", "hotline.risk.escalated.v1"},
        }),
        ("followup", {topic: _topic_types(topic) for topic in (
            "hotline.contacts.v1", "hotline.risk.v1", "hotline.sessions.v1",
            "hotline.security.v1")}),
    ],
)  # fmt: skip
def test_asyncapi_documents_carry_the_real_payloads_of_what_each_service_consumes(
    documents: dict[str, dict[str, Any]], service: str, consumes: dict[str, set[str]]
) -> None:
    document = documents[service]
    assert document["asyncapi"] == "3.0.0"
    assert _payload_types(document, "receive") == consumes


@pytest.mark.parametrize(
    ("service", "topics"),
    [
        ("intake", ("hotline.contacts.v1", "hotline.risk.v1", "hotline.security.v1")),
        ("sessions", ("hotline.sessions.v1", "hotline.security.v1")),
        ("followup", ("hotline.followups.v1", "hotline.security.v1")),
    ],
)
def test_asyncapi_documents_carry_what_each_service_publishes(
    documents: dict[str, dict[str, Any]], service: str, topics: tuple[str, ...]
) -> None:
    assert _payload_types(documents[service], "send") == {t: _topic_types(t) for t in topics}


def test_a_service_serves_its_asyncapi_document() -> None:
    from hotline_sessions.app import build_app
    from hotline_shared.service import create_runtime

    runtime = create_runtime("sessions")
    response = TestClient(build_app(runtime)).get("/asyncapi")  # no lifespan: no broker needed
    assert response.status_code == 200
    assert response.json() == runtime.bus.asyncapi(title="hotline sessions")
    assert response.json()["asyncapi"] == "3.0.0"


# ---- JSON Schemas and the examples they must keep accepting ---------------------------


def _schemas() -> dict[str, dict[str, Any]]:
    return {p.name.removesuffix(".schema.json"): json.loads(p.read_text())
            for p in contracts.EVENTS_DIR.glob("*.schema.json")}  # fmt: skip


def _examples() -> list[Path]:
    return sorted(contracts.EXAMPLES_DIR.glob("*.json"))


def test_every_event_type_has_a_committed_example() -> None:
    examples = {json.loads(p.read_text())["type"] for p in _examples()}
    assert set(EVENT_TYPES) - examples == set()


@pytest.mark.parametrize("example", _examples(), ids=lambda p: p.stem)
def test_each_schema_version_accepts_every_example_of_its_own_and_earlier_versions(
    example: Path,
) -> None:
    """Backward compatibility: a consumer built on version N reads every event of versions
    up to N that was ever committed as an example (a v2 schema must accept v1's examples)."""
    body = json.loads(example.read_text())
    family, version = _family(body["type"])
    later = {name: schema for name, schema in _schemas().items()
             if _family(name)[0] == family and _family(name)[1] >= version}  # fmt: skip
    assert later, f"no schema for {body['type']}"
    for name, schema in later.items():
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(
            {**body, "type": name})]  # fmt: skip
        assert errors == [], f"{name} rejects {example.name}: {errors}"


@pytest.mark.parametrize("example", _examples(), ids=lambda p: p.stem)
def test_the_services_read_every_committed_example(example: Path) -> None:
    event = parse_event(example.read_bytes())
    assert json.loads(event.model_dump_json()) == json.loads(example.read_text())


def test_the_schema_check_would_catch_an_incompatible_change() -> None:
    """The check above is real: a schema that made a field required, or changed its type,
    rejects the committed example."""
    schema = _schemas()["hotline.contact.ended.v1"]
    example = json.loads((contracts.EXAMPLES_DIR / "hotline.contact.ended.v1.json").read_text())
    data_schema = schema["$defs"]["ContactEndedData"]
    stricter = json.loads(json.dumps(schema))
    stricter["$defs"]["ContactEndedData"]["required"] = [*data_schema["required"], "queue_id"]
    assert list(Draft202012Validator(stricter).iter_errors(example))
    retyped = json.loads(json.dumps(schema))
    retyped["$defs"]["ContactEndedData"]["properties"]["caller_reachable"] = {"type": "string"}
    assert list(Draft202012Validator(retyped).iter_errors(example))


def _family(type_name: str) -> tuple[str, int]:
    match = VERSIONED.match(type_name)
    assert match, type_name
    return match["family"], int(match["version"])
