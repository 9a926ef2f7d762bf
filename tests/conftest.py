from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hotline_cli.processes import use_dev_secrets
from hotline_shared.mongo import Document, make_client
from hotline_shared.settings import KafkaSettings, MongoSettings
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import ServiceProcess, unique

use_dev_secrets()  # the tests run against the development stack and its secrets


@pytest.fixture
def kafka_settings() -> KafkaSettings:
    """Unique topics per test: hotline.* names behind a random prefix."""
    return KafkaSettings(topic_prefix=unique("t") + ".", partitions=3, retry_backoff_ms=20)


@pytest.fixture
def mongo_settings() -> MongoSettings:
    return MongoSettings(database_prefix=unique("t") + "_")


@pytest.fixture
async def mongo_client(mongo_settings: MongoSettings) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = make_client(mongo_settings)
    yield client
    for name in await client.list_database_names():
        if name.startswith(mongo_settings.database_prefix):
            await client.drop_database(name)
    await client.close()


@pytest.fixture
async def db(
    mongo_client: AsyncMongoClient[Document], mongo_settings: MongoSettings
) -> AsyncDatabase[Document]:
    return mongo_client[f"{mongo_settings.database_prefix}test"]


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="session")
def dev_centers() -> Any:
    from hotline_shared.centers import load_centers
    from hotline_shared.settings import DEV_CENTERS_FILE

    return load_centers(DEV_CENTERS_FILE)


def token_for(role: str, centers: list[str], sub: str = "user-1") -> str:
    from hotline_shared.auth import mint_token
    from hotline_shared.settings import SecuritySettings

    secret = SecuritySettings().jwt_secret
    assert secret is not None
    return mint_token(secret.get_secret_value(), sub=sub, role=role, centers=centers)


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


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The browser tests run in a pytest process of their own (`make test` runs both):
    Playwright's sync API keeps an event loop running in the main thread for the session,
    where the asyncio tests need to run theirs. Name tests/browser to run them."""
    browser = Path(__file__).parent / "browser"
    if collection_path == browser:
        named = [Path(a.split("::")[0]).resolve() for a in config.args]
        if not any(p == browser or browser in p.parents for p in named):
            return True
    return None
