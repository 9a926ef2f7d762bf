from __future__ import annotations

import pytest
from hotline_shared.settings import KafkaSettings, MongoSettings

from tests.support import ServiceProcess


@pytest.fixture(scope="module")
def intake_kafka(intake_service: ServiceProcess) -> KafkaSettings:
    return KafkaSettings(topic_prefix=intake_service.env["HOTLINE_KAFKA_TOPIC_PREFIX"])


@pytest.fixture(scope="module")
def intake_mongo(intake_service: ServiceProcess) -> MongoSettings:
    return MongoSettings(database_prefix=intake_service.env["HOTLINE_MONGODB_DATABASE_PREFIX"])
