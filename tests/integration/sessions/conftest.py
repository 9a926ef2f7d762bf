from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hotline_shared.kafka import EventBus
from hotline_shared.settings import KafkaSettings, MongoSettings

from tests.support import ServiceProcess, unique


@pytest.fixture(scope="module")
async def sessions_replicas(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[list[ServiceProcess]]:
    """Two replicas of the sessions service sharing topics and database."""
    prefix = unique("t")
    env = {
        "HOTLINE_KAFKA_TOPIC_PREFIX": f"{prefix}.",
        "HOTLINE_MONGODB_DATABASE_PREFIX": f"{prefix}_",
        "HOTLINE_SESSIONS_OVERDUE_MINUTES": "0.05",  # 3 s
        "HOTLINE_SESSIONS_OVERDUE_CHECK_SECONDS": "0.3",
    }
    log_dir = Path(tmp_path_factory.mktemp("sessions"))
    replicas = [ServiceProcess("sessions", env, log_dir) for _ in range(2)]
    try:
        for replica in replicas:  # together: both create the indexes of a new database
            replica.start()
        for replica in replicas:
            await replica.wait_ready()
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()


@pytest.fixture(scope="module")
def sessions_kafka(sessions_replicas: list[ServiceProcess]) -> KafkaSettings:
    return KafkaSettings(topic_prefix=sessions_replicas[0].env["HOTLINE_KAFKA_TOPIC_PREFIX"])


@pytest.fixture(scope="module")
def sessions_mongo(sessions_replicas: list[ServiceProcess]) -> MongoSettings:
    return MongoSettings(
        database_prefix=sessions_replicas[0].env["HOTLINE_MONGODB_DATABASE_PREFIX"]
    )


@pytest.fixture(scope="module")
async def upstream(sessions_kafka: KafkaSettings) -> AsyncIterator[EventBus]:
    """Publishes what intake would."""
    bus = EventBus(sessions_kafka, client_id="test-upstream")
    await bus.start()
    yield bus
    await bus.stop()
