from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hotline_shared.settings import KafkaSettings, MongoSettings

from tests.support import ServiceProcess, unique


@pytest.fixture(scope="module")
async def intake_service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServiceProcess]:
    """The intake service as a real process, on its own topics and database."""
    prefix = unique("t")
    env = {
        "HOTLINE_KAFKA_TOPIC_PREFIX": f"{prefix}.",
        "HOTLINE_MONGODB_DATABASE_PREFIX": f"{prefix}_",
        "HOTLINE_INTAKE_SETTLE_SECONDS": "2",
    }
    service = ServiceProcess("intake", env, Path(tmp_path_factory.mktemp("intake")))
    service.start()
    try:
        await service.wait_ready()
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def intake_kafka(intake_service: ServiceProcess) -> KafkaSettings:
    return KafkaSettings(topic_prefix=intake_service.env["HOTLINE_KAFKA_TOPIC_PREFIX"])


@pytest.fixture(scope="module")
def intake_mongo(intake_service: ServiceProcess) -> MongoSettings:
    return MongoSettings(database_prefix=intake_service.env["HOTLINE_MONGODB_DATABASE_PREFIX"])
