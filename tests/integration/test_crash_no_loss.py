"""A consumer SIGKILLed mid-batch loses nothing and applies every effect exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import Document
from hotline_shared.settings import KafkaSettings, MongoSettings
from pymongo.asynchronous.database import AsyncDatabase

from tests.factories import sample_event
from tests.support import ROOT, unique, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 400


def spawn(group: str, database: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.inbox_consumer", group, database],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def test_sigkill_mid_batch_then_restart_applies_every_message_exactly_once(
    kafka_settings: KafkaSettings,
    mongo_settings: MongoSettings,
    db: AsyncDatabase[Document],
    log_dir: Path,
) -> None:
    bus = EventBus(kafka_settings, client_id="crash-producer")
    await bus.start()
    try:
        for n in range(N):
            await bus.publish(
                sample_event("hotline.contact.started.v1", id=f"e{n}", subject=f"c{n % 7}")
            )
    finally:
        await bus.stop()

    env = {
        "HOTLINE_KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
        "HOTLINE_KAFKA_BOOTSTRAP": kafka_settings.bootstrap,
        "HOTLINE_MONGODB_URI": mongo_settings.uri,
    }
    group, database = unique("crash-"), db.name
    inbox = db["inbox"]
    log = log_dir / "consumer.log"

    first = spawn(group, database, env, log)
    try:
        await wait_until(lambda: _count_at_least(inbox, 60), timeout=60, what="consumer mid-batch")
    finally:
        first.kill()  # SIGKILL: no shutdown, no final commit
        first.wait(timeout=10)
    done_before_restart = await inbox.count_documents({})
    assert done_before_restart < N, "the kill must land before the end of the batch"

    second = spawn(group, database, env, log)
    try:
        await wait_until(lambda: _count_at_least(inbox, N), timeout=120, what=f"{N} effects")
    finally:
        second.kill()
        second.wait(timeout=10)

    ids = await inbox.distinct("event_id")
    assert sorted(ids) == sorted(f"e{n}" for n in range(N))
    assert await inbox.count_documents({}) == N
    tallies = [doc["n"] async for doc in db["tally"].find({})]
    assert sum(tallies) == N  # a non-idempotent $inc, applied exactly once per message


async def _count_at_least(collection: object, n: int) -> bool:
    return bool(await collection.count_documents({}) >= n)  # type: ignore[attr-defined]
