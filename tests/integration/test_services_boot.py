"""Each service runs with `python -m hotline_<svc>` and serves /healthz and /readyz."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from hotline_shared.settings import KafkaSettings, MongoSettings

from tests.support import ServiceProcess

pytestmark = pytest.mark.integration


async def test_the_three_services_start_and_report_ready(
    kafka_settings: KafkaSettings, mongo_settings: MongoSettings, log_dir: Path
) -> None:
    env = {
        "HOTLINE_KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
        "HOTLINE_MONGODB_DATABASE_PREFIX": mongo_settings.database_prefix,
    }
    services = [ServiceProcess(name, env, log_dir) for name in ("intake", "sessions", "followup")]
    for service in services:
        service.start()
    try:
        for service in services:
            await service.wait_ready()
        async with httpx.AsyncClient(timeout=5) as client:
            for service in services:
                health = (await client.get(f"{service.url}/healthz")).json()
                assert health == {"status": "ok", "service": service.service}
                metrics = await client.get(f"{service.url}/metrics")
                assert metrics.status_code == 200
                missing = await client.get(f"{service.url}/v1/nothing-here")
                assert missing.status_code == 404
                assert missing.headers["content-type"] == "application/problem+json"
    finally:
        for service in services:
            service.stop()
