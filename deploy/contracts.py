"""The generated contracts, written to docs/ by `make contracts` (a test fails when they are
stale): each service's AsyncAPI 3 document (docs/asyncapi/<service>.json, the same document
the service serves at /asyncapi) and the JSON Schema of every event type
(docs/events/<type>.schema.json). Committed examples (docs/events/examples/) are history:
written by hand or once from a real event, never regenerated."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hotline_shared.service import Runtime

ROOT = Path(__file__).resolve().parents[1]
ASYNCAPI_DIR = ROOT / "docs" / "asyncapi"
EVENTS_DIR = ROOT / "docs" / "events"
EXAMPLES_DIR = EVENTS_DIR / "examples"
SERVICES = ("intake", "sessions", "followup")
SERVER = {
    "host": "${HOTLINE_KAFKA_BOOTSTRAP}",
    "protocol": "kafka",
    "description": "The bootstrap servers the service is configured with (TLS/SASL per "
    "HOTLINE_KAFKA_SECURITY_PROTOCOL); topic names carry HOTLINE_KAFKA_TOPIC_PREFIX.",
}


def asyncapi_documents() -> dict[str, dict[str, Any]]:
    """Each service's AsyncAPI document, independent of where this machine's Kafka is."""
    from hotline_followup.app import build_app as followup
    from hotline_intake.app import build_app as intake
    from hotline_sessions.app import build_app as sessions
    from hotline_shared.service import create_runtime

    documents = {}
    builders: tuple[Callable[[Runtime], object], ...] = (intake, sessions, followup)
    for name, build in zip(SERVICES, builders, strict=True):
        saved = os.environ.pop("HOTLINE_KAFKA_TOPIC_PREFIX", None)  # the topics' own names
        try:
            runtime = create_runtime(name)
        finally:
            if saved is not None:
                os.environ["HOTLINE_KAFKA_TOPIC_PREFIX"] = saved
        build(runtime)
        text = json.dumps(runtime.bus.asyncapi(title=f"hotline {name}"))
        document = json.loads(text.replace("#/servers/development", "#/servers/kafka"))
        document["servers"] = {"kafka": SERVER}
        documents[name] = document
    return documents


def event_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema (2020-12) of every event type, by type name."""
    from hotline_shared.events import EVENT_TYPES

    return {
        name: {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://hotline.example/events/{name}.schema.json",
            **cls.model_json_schema(),
        }
        for name, cls in sorted(EVENT_TYPES.items())
    }


def rendered() -> dict[Path, str]:
    """Every generated file and its text."""
    files = {ASYNCAPI_DIR / f"{name}.json": doc for name, doc in asyncapi_documents().items()}
    files |= {EVENTS_DIR / f"{name}.schema.json": doc for name, doc in event_schemas().items()}
    return {path: json.dumps(doc, indent=2, sort_keys=True) + "\n" for path, doc in files.items()}


def main() -> None:
    from hotline_cli.processes import use_dev_secrets

    use_dev_secrets()  # the apps refuse to be built without secrets; none reaches the documents
    for path, text in rendered().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
