"""The one MongoDB factory (PyMongo's native async API) and the idempotency structures.

Only the portable subset that MongoDB 7/8 and FerretDB both serve is used (DESIGN.md §2):
no multi-document transactions, change streams or TTL indexes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pymongo import ASCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from hotline_shared.events import Envelope, parse_event
from hotline_shared.settings import MongoSettings

log = structlog.get_logger(__name__)

Document = dict[str, Any]


def make_client(settings: MongoSettings) -> AsyncMongoClient[Document]:
    """Majority writes, retryable writes, UTC-aware datetimes."""
    return AsyncMongoClient(
        settings.uri,
        tz_aware=True,
        w="majority",
        retryWrites=True,
        serverSelectionTimeoutMS=10_000,
        appname="hotline",
    )


def database(
    client: AsyncMongoClient[Document], settings: MongoSettings, name: str
) -> AsyncDatabase[Document]:
    """Each service owns one database, `hotline_<service>` (prefix isolates tests)."""
    return client[f"{settings.database_prefix}{name}"]


async def ensure_indexes(
    db: AsyncDatabase[Document], indexes: Mapping[str, Sequence[IndexModel]], attempts: int = 5
) -> None:
    """Create indexes; retried, because replicas starting together race on a new database
    (FerretDB 1.24 can drop the connection on concurrent createIndexes)."""
    for attempt in range(1, attempts + 1):
        try:
            for collection, models in indexes.items():
                existing = {ix["name"] async for ix in await db[collection].list_indexes()}
                missing = [m for m in models if m.document["name"] not in existing]
                if missing:  # creating only what is missing keeps restarts off createIndexes
                    await db[collection].create_indexes(missing)
            return
        except (PyMongoError, OSError) as exc:
            if attempt == attempts:
                raise
            log.warning("mongo.ensure_indexes_retry", attempt=attempt, error=type(exc).__name__)
            await asyncio.sleep(0.2 * attempt)


async def ping(client: AsyncMongoClient[Document]) -> None:
    await client.admin.command("ping")


# ---- inbox ----------------------------------------------------------------------------


class Inbox:
    """A unique (consumer, event_id) record: the effect of an event happens at most once.

    `record()` is the effect itself when the effect is "remember this event" (an insert
    keyed by the event id): duplicate deliveries, also concurrent ones from two consumers,
    find it recorded and skip.
    """

    COLLECTION = "inbox"
    INDEXES = (IndexModel([("consumer", ASCENDING), ("event_id", ASCENDING)], unique=True),)

    def __init__(self, db: AsyncDatabase[Document], consumer: str) -> None:
        self.collection: AsyncCollection[Document] = db[self.COLLECTION]
        self.consumer = consumer

    async def record(self, event_id: str, *, at: datetime, payload: Document | None = None) -> bool:
        """Insert the inbox entry; True if this call was the first for (consumer, event_id)."""
        try:
            await self.collection.insert_one(
                {
                    "_id": f"{self.consumer}:{event_id}",
                    "consumer": self.consumer,
                    "event_id": event_id,
                    "at": at,
                    "payload": payload or {},
                }
            )
        except DuplicateKeyError:
            return False
        return True


async def apply_once(
    collection: AsyncCollection[Document],
    *,
    doc_id: str,
    event_id: str,
    update: Document,
    upsert: bool = False,
    keep: int = 256,
) -> bool:
    """Apply `update` to one document unless `event_id` is already in its `applied` list.

    The guard and the effect are one single-document write, so they cannot come apart.
    """
    guarded = dict(update)
    push = dict(guarded.pop("$push", {}))
    push["applied"] = {"$each": [event_id], "$slice": -keep}
    guarded["$push"] = push
    try:
        result = await collection.update_one(
            {"_id": doc_id, "applied": {"$ne": event_id}}, guarded, upsert=upsert
        )
    except DuplicateKeyError:
        return False  # upsert raced with a document that already applied this event
    return result.modified_count == 1 or result.upserted_id is not None


# ---- outbox ---------------------------------------------------------------------------


RELAY_GRACE = timedelta(seconds=60)  # a slow flush is not a crash: leave it to its writer


class Outbox:
    """State change and the events it causes are written in one document (`outbox` array);
    `flush` publishes them, then `$pull`s them. `relay` republishes what a crash left."""

    FIELD = "outbox"

    def __init__(
        self,
        collection: AsyncCollection[Document],
        publish: Callable[[Envelope], Awaitable[None]],
    ) -> None:
        self.collection = collection
        self.publish = publish

    @staticmethod
    def push(*events: Envelope) -> Document:
        """The `$push` fragment that puts events in the same write as the state change."""
        return {Outbox.FIELD: {"$each": [e.model_dump_json() for e in events]}}

    async def flush(self, doc_id: Any) -> int:
        doc = await self.collection.find_one({"_id": doc_id}, {self.FIELD: 1})
        return await self._publish_pending(doc) if doc else 0

    async def relay(
        self,
        *,
        older_than: timedelta = RELAY_GRACE,
        limit: int = 500,
        guard: Callable[[Any], contextlib.AbstractAsyncContextManager[None]] | None = None,
    ) -> int:
        """Publish what a crash left behind (run periodically and at start).

        Entries younger than `older_than` are left to the writer that is flushing them right
        now, so a healthy flush is not doubled by another replica's relay. `guard(doc_id)`
        is held around each document when its writers serialise on a per-key lock.
        """
        published = 0
        cutoff = datetime.now(UTC) - older_than
        cursor = self.collection.find(
            {f"{self.FIELD}.0": {"$exists": True}}, {"_id": 1, self.FIELD: 1}
        )
        stale = [
            doc["_id"]
            async for doc in cursor.limit(limit)
            if any(parse_event(entry).time <= cutoff for entry in doc.get(self.FIELD) or [])
        ]
        for doc_id in stale:
            if guard is None:
                published += await self.flush(doc_id)
            else:
                async with guard(doc_id):
                    published += await self.flush(doc_id)
        return published

    async def _publish_pending(self, doc: Document) -> int:
        entries: list[str] = doc.get(self.FIELD) or []
        for entry in entries:
            await self.publish(parse_event(entry))
        if entries:
            # $pullAll by exact value: the portable form (FerretDB ignores $pull conditions).
            await self.collection.update_one(
                {"_id": doc["_id"]}, {"$pullAll": {self.FIELD: entries}}
            )
        return len(entries)


# ---- metrics --------------------------------------------------------------------------


def metric_entries(values: Mapping[str, float | int | None]) -> list[Document]:
    """A document's contribution to `sum_metrics`: [{"m": name, "v": value}, ...]."""
    return [{"m": name, "v": value} for name, value in values.items() if value is not None]


async def sum_metrics(
    collection: AsyncCollection[Document], match: Document, *, field: str = "metrics"
) -> dict[str, float]:
    """Sum every metric over the matching documents in one pipeline.

    One accumulator grouped by metric name, because FerretDB 1.24 computes only the first
    accumulator of a $group correctly (the others come back 0).
    """
    pipeline: list[Document] = [
        {"$match": match},
        {"$unwind": f"${field}"},
        {"$group": {"_id": f"${field}.m", "v": {"$sum": f"${field}.v"}}},
    ]
    cursor = await collection.aggregate(pipeline)
    return {doc["_id"]: doc["v"] async for doc in cursor}


# ---- emit once ------------------------------------------------------------------------


class EventLog:
    """Emit an event at most once, whoever tries: the insert keyed by the (deterministic)
    event id is the claim and carries the event; a second insert marks it published.

    Only inserts are used: an insert with a unique `_id` is the one write both MongoDB and
    FerretDB make atomic under concurrency (FerretDB 1.24's conditional updates are not:
    two writers may both match), and on FerretDB inserts stay fast as collections grow
    while updates and deletes scan. The relay publishes claims that have no marker.
    """

    CLAIMS = "emitted_events"
    PUBLISHED = "published_events"

    def __init__(
        self, db: AsyncDatabase[Document], publish: Callable[[Envelope], Awaitable[None]]
    ) -> None:
        self.claims: AsyncCollection[Document] = db[self.CLAIMS]
        self.published: AsyncCollection[Document] = db[self.PUBLISHED]
        self.publish = publish

    async def emit(self, event: Envelope) -> bool:
        """Record and publish; False (and nothing published) if it was emitted before."""
        payload = event.model_dump_json()
        try:
            await self.claims.insert_one(
                {
                    "_id": event.id,
                    "type": event.type,
                    "subject": event.subject,
                    "at": event.time,
                    "json": payload,
                }
            )
        except DuplicateKeyError:
            # Emitted before. If that try died before publishing, the relay sends it; doing
            # it here would double a concurrent emitter that is publishing right now.
            return False
        await self._publish(event.id, payload)
        return True

    async def _publish(self, event_id: str, payload: str) -> None:
        await self.publish(parse_event(payload))
        with contextlib.suppress(DuplicateKeyError):
            await self.published.insert_one({"_id": event_id})

    async def relay(
        self, *, older_than: timedelta = RELAY_GRACE, horizon: timedelta = timedelta(days=2)
    ) -> int:
        """Publish claims a crash left unpublished (periodic)."""
        now = datetime.now(UTC)
        window = {"at": {"$lte": now - older_than, "$gte": now - horizon}}
        claims = [doc async for doc in self.claims.find(window, {"json": 1}).limit(2000)]
        done = {
            doc["_id"]
            async for doc in self.published.find(
                {"_id": {"$in": [c["_id"] for c in claims]}}, {"_id": 1}
            )
        }
        missing = [c for c in claims if c["_id"] not in done]
        for claim in missing:
            await self._publish(claim["_id"], claim["json"])
        return len(missing)
