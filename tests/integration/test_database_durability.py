"""Every acknowledged write survives a kill -9 of the local database (deploy/local/mongo)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

import pytest
from hotline_shared.mongo import Document, make_client
from hotline_shared.settings import MongoSettings
from pymongo.asynchronous.database import AsyncDatabase

from tests.support import ROOT, STATE, wait_until

pytestmark = pytest.mark.integration

MONGO_PID = STATE / "run" / "mongo.pid"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return True
    return False


async def restart_database(sig: int = signal.SIGKILL) -> None:
    """Stop the database `make up` started (by its recorded PID) and start it with `make up`."""
    assert MONGO_PID.exists(), "needs the database `make up` started (.local/run/mongo.pid)"
    pid = int(MONGO_PID.read_text())
    os.kill(pid, sig)
    await wait_until(lambda: _gone(pid), timeout=60, what="database process gone")
    started = await asyncio.to_thread(
        subprocess.run, ["make", "-s", "up"], cwd=ROOT, capture_output=True, text=True
    )
    assert started.returncode == 0, started.stderr[-2000:]


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
    await restart_database(signal.SIGKILL)
    fresh = make_client(mongo_settings)
    try:
        again = fresh[db.name]["durable"]
        found = sorted([d["_id"] async for d in again.find({}, {"_id": 1})])
    finally:
        await fresh.close()
    assert found == list(range(1000))
