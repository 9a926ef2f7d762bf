from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import Document, make_client
from pymongo.asynchronous.database import AsyncDatabase

from tests.integration.followup.support import Stack


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(tmp_path)
    yield s
    for replica in s.replicas:
        replica.stop()


@pytest.fixture
async def upstream(stack: Stack) -> AsyncIterator[EventBus]:
    bus = EventBus(stack.kafka, client_id="test-upstream")
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture
async def followup_db(stack: Stack) -> AsyncIterator[AsyncDatabase[Document]]:
    client = make_client(stack.mongo)
    yield client[f"{stack.mongo.database_prefix}hotline_followup"]
    await client.close()
