"""A consumer process for the crash test: records each event in the inbox and tallies it.

Run: python -m tests.integration.inbox_consumer <group_id> <database>
(topic prefix and Mongo URI from the usual HOTLINE_* variables).
"""

from __future__ import annotations

import asyncio
import sys

from hotline_shared.clock import SystemClock
from hotline_shared.events import CONTACTS_TOPIC, Envelope
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import Inbox, apply_once, make_client
from hotline_shared.settings import KafkaSettings, MongoSettings


async def main(group_id: str, database: str) -> None:
    client = make_client(MongoSettings())
    db = client[database]
    await db[Inbox.COLLECTION].create_indexes(list(Inbox.INDEXES))
    inbox = Inbox(db, consumer=group_id)
    clock = SystemClock()

    async def handler(event: Envelope) -> None:
        await asyncio.sleep(0.005)  # stands for real work, so a kill lands mid-batch
        await apply_once(
            db["tally"], doc_id=event.subject, event_id=event.id,
            update={"$inc": {"n": 1}}, upsert=True,
        )  # fmt: skip
        await inbox.record(event.id, at=clock.now(), payload={"subject": event.subject})

    bus = EventBus(KafkaSettings(), client_id="crash-test")
    bus.subscribe(CONTACTS_TOPIC, group_id=group_id, handler=handler)
    await bus.start()
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
