"""Every acknowledged write survives a kill -9 of the local database (deploy/local/mongo)."""

from __future__ import annotations

import asyncio

import pytest
from hotline_shared.mongo import Document, make_client
from hotline_shared.settings import MongoSettings
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import restart_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_a_thousand_acknowledged_writes_survive_kill_9_of_the_database(
    db: AsyncDatabase[Document], mongo_settings: MongoSettings
) -> None:
    col = db["durable"]
    await asyncio.gather(
        *(
            asyncio.gather(*(col.insert_one({"_id": n, "n": n}) for n in range(start, start + 50)))
            for start in range(0, 1000, 50)
        )
    )  # fmt: skip  (acknowledged one by one, 1,000 writes in flight in batches)
    await restart_database()
    fresh = make_client(mongo_settings)
    try:
        again = fresh[db.name]["durable"]
        found = sorted([d["_id"] async for d in again.find({}, {"_id": 1})])
    finally:
        await fresh.close()
    assert found == list(range(1000))
