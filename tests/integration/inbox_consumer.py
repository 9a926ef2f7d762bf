"""A consumer process for the crash test: records each event once (a unique insert, the
idempotency record) and tallies it in the same single-document write.

Run: python -m tests.integration.inbox_consumer <group_id> <database>
(topic prefix and Mongo URI from the usual HOTLINE_* variables).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from hotline_shared.clock import SystemClock
from hotline_shared.events import CONTACTS_TOPIC, Envelope
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import insert_new, make_client
from hotline_shared.settings import KafkaSettings, MongoSettings
from pymongo.errors import DuplicateKeyError


async def main(group_id: str, database: str) -> None:
    client = make_client(MongoSettings())
    db = client[database]
    clock = SystemClock()

    async def handler(event: Envelope) -> None:
        await asyncio.sleep(0.005)  # stands for real work, so a kill lands mid-batch
        # The effect and its guard in one conditional single-document write:
        # (a DuplicateKeyError: the upsert raced a document that applied this event already)
        with contextlib.suppress(DuplicateKeyError):
            await db["tally"].update_one(
                {"_id": event.subject, "applied": {"$ne": event.id}},
                {"$inc": {"n": 1}, "$push": {"applied": event.id}}, upsert=True,
            )  # fmt: skip
        await insert_new(db["inbox"], {"_id": event.id, "event_id": event.id, "at": clock.now()})

    bus = EventBus(KafkaSettings(), client_id="crash-test")
    bus.subscribe(CONTACTS_TOPIC, group_id=group_id, handler=handler)
    await bus.start()
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
