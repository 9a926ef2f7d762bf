"""The follow-up service under test: replicas on shared topics and database, an upstream."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hotline_shared.events import FOLLOWUPS_TOPIC, ContactAbandoned, ContactAbandonedData, new_event
from hotline_shared.settings import KafkaSettings, MongoSettings

from tests.support import ServiceProcess, read_topic, unique

CENTER = "center-01"


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.prefix = unique("t")
        self.kafka = KafkaSettings(topic_prefix=f"{self.prefix}.")
        self.mongo = MongoSettings(database_prefix=f"{self.prefix}_")
        self.tmp = tmp
        self.replicas: list[ServiceProcess] = []

    def replica(self, **env: str) -> ServiceProcess:
        process = ServiceProcess("followup", {
            "HOTLINE_KAFKA_TOPIC_PREFIX": self.kafka.topic_prefix,
            "HOTLINE_MONGODB_DATABASE_PREFIX": self.mongo.database_prefix,
            "HOTLINE_FOLLOWUP_POLICY_PROFILE": "demo", "HOTLINE_FOLLOWUP_TIMER_INTERVAL_SECONDS": "0.2",
            **env}, self.tmp)  # fmt: skip
        self.replicas.append(process)
        return process

    async def followup_events(self, expect: int = 0, settle: float = 1.0) -> list[dict[str, Any]]:
        records: list[Any] = await read_topic(self.kafka.bootstrap, self.kafka.topic_prefix + FOLLOWUPS_TOPIC,
                                              expect=expect, settle=settle, strict=False, timeout=60)  # fmt: skip
        return [json.loads(r.value) for r in records]


def abandoned(n: int, token: str | None = None) -> Any:
    contact_id = unique(f"c{n}-")
    data = ContactAbandonedData(contact_id=contact_id, provider="twilio", provider_contact_id=contact_id,
                                channel="voice", occurred_at=datetime.now(UTC), caller_token=token or f"tok{n}",
                                caller_reachable=True)  # fmt: skip
    return new_event(ContactAbandoned, data=data, center_id=CENTER, source="hotline/intake",
                     time=datetime.now(UTC), cause=(contact_id,))  # fmt: skip


def centers_file(tmp: Path, **first_center: Any) -> Path:
    """The development centers, the first one changed (alert webhook, time zone, hours…)."""
    import yaml
    from hotline_shared.settings import DEV_CENTERS_FILE

    centers = yaml.safe_load(DEV_CENTERS_FILE.read_text())
    centers[0].update(first_center)
    path = tmp / "centers.yaml"
    path.write_text(yaml.safe_dump(centers))
    return path


async def first_task(db: Any, contact_id: str) -> Any:
    """The task follow-up makes for a contact, once it is there."""
    from tests.support import wait_until

    async def found() -> Any:
        return await db["tasks"].find_one({"contact_id": contact_id})

    return await wait_until(found, timeout=60, what=f"a task for {contact_id}")
