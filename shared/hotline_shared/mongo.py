"""The one MongoDB factory (PyMongo's native async API), the outbox, the emit-once log, and
the one concurrency story: optimistic, checked by the database.

Every write to an aggregate is a single-document conditional write (on its `version`, or a
unique insert) that fails when someone else got there first; the caller re-reads and tries
again (`retry_on_conflict`). No in-process locks: any number of replicas are correct.
Only what tests/contract/ checks is used (no multi-document transactions, change streams or
TTL indexes).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar

import structlog
from pymongo import ASCENDING, AsyncMongoClient, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from hotline_shared.events import Envelope, parse_event
from hotline_shared.settings import MongoSettings

log = structlog.get_logger(__name__)

Document = dict[str, Any]
T = TypeVar("T")


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
    """Create indexes (idempotent); retried, because the database may still be starting."""
    for attempt in range(1, attempts + 1):
        try:
            for collection, models in indexes.items():
                if models:
                    await db[collection].create_indexes(list(models))
            return
        except (PyMongoError, OSError) as exc:
            if attempt == attempts:
                raise
            log.warning("mongo.ensure_indexes_retry", attempt=attempt, error=type(exc).__name__)
            await asyncio.sleep(0.2 * attempt)


async def ping(client: AsyncMongoClient[Document]) -> None:
    await client.admin.command("ping")


# ---- optimistic concurrency ----------------------------------------------------------------


class Conflict(Exception):
    """Others kept changing the same document: the caller answers 503 with Retry-After."""


CONFLICT_TRIES = 20
DUPLICATE_KEY = 11000


async def retry_on_conflict(
    attempt: Callable[[], Awaitable[T | None]], *, what: str, tries: int = CONFLICT_TRIES
) -> T:
    """Run `attempt` (read, decide, conditional write) until it returns a result.

    `attempt` returns None when its conditional write found the document changed; it is run
    again from a fresh read, with a short jittered pause (at most 50 ms) so that writers
    spread out.
    """
    for n in range(tries):
        result = await attempt()
        if result is not None:
            return result
        await asyncio.sleep(min(0.05, 0.002 * (n + 1)) * (1 + random.random()))
    raise Conflict(what)


async def insert_new(collection: AsyncCollection[Document], doc: Document) -> bool:
    """A unique insert: True if this call created the document, False if it existed."""
    try:
        await collection.insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def insert_all_new(collection: AsyncCollection[Document], docs: Sequence[Document]) -> int:
    """Insert each of `docs` whose `_id` is new, skipping those that exist: how many were
    inserted. One round trip."""
    return len(docs) - len(await _insert_many(collection, docs, ordered=False)) if docs else 0


async def insert_in_order(collection: AsyncCollection[Document], docs: list[Document]) -> int:
    """Insert `docs` in order, stopping at the first whose `_id` exists: how many were
    inserted (a prefix of `docs`). One round trip."""
    taken = await _insert_many(collection, docs, ordered=True)
    return int(taken[0]["index"]) if taken else len(docs)


async def _insert_many(
    collection: AsyncCollection[Document], docs: Sequence[Document], *, ordered: bool
) -> list[Document]:
    """`insert_many`: the write errors of ids taken already (any other error raises)."""
    try:
        await collection.insert_many(docs, ordered=ordered)
    except BulkWriteError as exc:
        errors: list[Document] = exc.details.get("writeErrors", [])
        if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return errors
    return []


# ---- outbox ---------------------------------------------------------------------------


RELAY_GRACE = timedelta(seconds=60)  # a slow flush is not a crash: leave it to its writer


class Outbox:
    """A state change and the events it causes are one document write: the events go into
    the document's `outbox` array and `outbox_since` (indexed) marks it pending. `flush`
    publishes them, then removes them; the marker goes with the last one. `relay` finds
    what a crash left by the marker alone, oldest first."""

    FIELD = "outbox"
    SINCE = "outbox_since"
    INDEX = IndexModel([(SINCE, ASCENDING)], name="outbox_pending", sparse=True)

    def __init__(
        self,
        collection: AsyncCollection[Document],
        publish: Callable[[Envelope], Awaitable[None]],
        prepare: Callable[[Sequence[Envelope]], Awaitable[None]] | None = None,
    ) -> None:
        """`prepare`, if given, sees every event of a flush before any is published (e.g.
        to store what they cause in one bulk write); a crash repeats it, so it must dedupe.
        If it fails, nothing of that flush is published: the relay takes the documents up,
        one by one."""
        self.collection = collection
        self.publish = publish
        self.prepare = prepare

    PROJECTION: ClassVar[Document] = {FIELD: 1, SINCE: 1}  # what flush_document needs

    @staticmethod
    def fields(events: Sequence[Envelope], now: datetime) -> Document:
        """An inserted document's outbox fields."""
        if not events:
            return {Outbox.FIELD: []}
        return {Outbox.FIELD: [e.model_dump_json() for e in events], Outbox.SINCE: now}

    @staticmethod
    def update(update: Document, events: Sequence[Envelope], now: datetime) -> Document:
        """`update` with `events` added to the outbox (and the pending marker) atomically."""
        if not events:
            return update
        return {
            **update,
            "$push": {
                **update.get("$push", {}),
                Outbox.FIELD: {"$each": [e.model_dump_json() for e in events]},
            },
            "$min": {**update.get("$min", {}), Outbox.SINCE: now},  # the oldest pending entry
        }

    async def flush(self, doc_id: Any) -> int:
        doc = await self.collection.find_one({"_id": doc_id}, {self.FIELD: 1, self.SINCE: 1})
        return await self.flush_document(doc)

    async def flush_document(self, doc: Document | None) -> int:
        """`flush` with the document already in hand (its `_id` and outbox fields, as the
        writer's own find_one_and_update returned them): one round trip fewer."""
        if doc is None or (not doc.get(self.FIELD) and self.SINCE not in doc):
            return 0  # nothing pending: no write
        return await self._publish_pending(doc)

    async def flush_many(self, doc_ids: Sequence[Any], *, match: Document | None = None) -> int:
        """`flush` of many documents (those of them matching `match`): one read, their events
        published concurrently (each document's in order), one bulk write emptying them."""
        cursor = self.collection.find(
            {"_id": {"$in": list(doc_ids)}, self.SINCE: {"$exists": True}, **(match or {})},
            self.PROJECTION,
        )
        docs = [doc async for doc in cursor if doc.get(self.FIELD)]
        if not docs:
            return 0
        await self._send([doc[self.FIELD] for doc in docs])
        emptied = await self.collection.bulk_write(
            [UpdateOne({"_id": doc["_id"], self.FIELD: doc[self.FIELD]},
                       {"$set": {self.FIELD: []}, "$unset": {self.SINCE: ""}}) for doc in docs],
            ordered=False,
        )  # fmt: skip
        if emptied.modified_count < len(docs):
            # Writers added events to some (and will flush them): remove only what went out.
            await self.collection.bulk_write(
                [UpdateOne({"_id": doc["_id"]}, {"$pull": {self.FIELD: {"$in": doc[self.FIELD]}}})
                 for doc in docs],
                ordered=False,
            )  # fmt: skip
        return sum(len(doc[self.FIELD]) for doc in docs)

    async def relay(self, *, older_than: timedelta = RELAY_GRACE, limit: int = 500) -> int:
        """Publish what a crash left behind (run periodically). Documents marked pending
        later than `older_than` ago are left to the writer flushing them right now."""
        cutoff = datetime.now(UTC) - older_than
        cursor = self.collection.find({self.SINCE: {"$lte": cutoff}}, {self.FIELD: 1})
        published = 0
        async for doc in cursor.sort(self.SINCE, ASCENDING).limit(limit):
            published += await self._publish_pending(doc)
        return published

    async def pending(self) -> int:
        """Documents with events not yet published (a gauge; the marker is indexed)."""
        return await self.collection.count_documents({self.SINCE: {"$exists": True}})

    async def _send(self, outboxes: Sequence[Sequence[str]]) -> None:
        """Publish several documents' entries: `prepare` first, with all of them; then each
        document's in order, the documents concurrently."""
        events = [[parse_event(entry) for entry in entries] for entries in outboxes]
        every = [event for batch in events for event in batch]
        if self.prepare is not None and every:
            await self.prepare(every)
        await asyncio.gather(*(self._publish_in_order(batch) for batch in events))

    async def _publish_in_order(self, events: Sequence[Envelope]) -> None:
        for event in events:
            await self.publish(event)

    async def _publish_pending(self, doc: Document) -> int:
        entries: list[str] = doc.get(self.FIELD) or []
        await self._send([entries])
        # Nothing added meanwhile: empty the outbox and drop the marker in one write.
        emptied = await self.collection.update_one(
            {"_id": doc["_id"], self.FIELD: entries},
            {"$set": {self.FIELD: []}, "$unset": {self.SINCE: ""}},
        )
        if emptied.modified_count == 0 and entries:
            # A writer added events (and will flush them): remove only what went out.
            await self.collection.update_one(
                {"_id": doc["_id"]}, {"$pull": {self.FIELD: {"$in": entries}}}
            )
        return len(entries)


@dataclass(frozen=True)
class FlushTicket:
    """Taken before a write whose answer will be flushed: which flushes had finished then."""

    seq: int
    at: float


class Flusher:
    """Outbox flushes that run after the answer: a webhook's response waits for its state and
    events to be durable (one write), not for Kafka. One flush at a time per document, in
    order, so one process never publishes an event twice by flushing a document twice at
    once. A flush that fails, or a process that dies, leaves the events to the relay.

    A write's answer holds its outbox; flushing that snapshot saves reading it again. It is
    only safe if no flush of the document finished since the write: one that finished after
    it could have sent (and cleared) entries the snapshot still shows. So a writer takes a
    `ticket()` before writing, and a snapshot older than the document's last finished flush
    is read again."""

    KEEP = 60.0  # seconds a finished flush is remembered; an older ticket reads again

    def __init__(self) -> None:
        self._last: dict[tuple[str, Any], asyncio.Task[None]] = {}
        self._finished: OrderedDict[tuple[str, Any], tuple[int, float]] = OrderedDict()
        self._seq = 0

    def ticket(self) -> FlushTicket:
        return FlushTicket(self._seq, time.monotonic())

    def flush_later(
        self,
        outbox: Outbox,
        doc_id: Any,
        written: Document | None = None,
        *,
        since: FlushTicket | None = None,
    ) -> None:
        """Flush `doc_id`'s outbox soon. `written` is the document as its write returned it,
        `since` the ticket taken before that write; without both, the outbox is read."""
        key = (outbox.collection.full_name, doc_id)
        if written is not None and not self._unchanged_since(key, since):
            written = None
        before = self._last.get(key)
        task = asyncio.create_task(self._flush(before, outbox, doc_id, written))
        self._last[key] = task
        task.add_done_callback(lambda done: self._done(key, done))

    def _unchanged_since(self, key: tuple[str, Any], since: FlushTicket | None) -> bool:
        if since is None or since.at < time.monotonic() - self.KEEP:
            return False
        finished = self._finished.get(key)
        return finished is None or finished[0] <= since.seq

    def _done(self, key: tuple[str, Any], done: asyncio.Task[None]) -> None:
        """A flush finished: remember when (oldest first, kept for KEEP seconds)."""
        now = time.monotonic()
        self._seq += 1
        self._finished[key] = (self._seq, now)
        self._finished.move_to_end(key)
        while next(iter(self._finished.values()))[1] < now - self.KEEP:
            self._finished.popitem(last=False)
        if self._last.get(key) is done:
            del self._last[key]

    @staticmethod
    async def _flush(
        before: asyncio.Task[None] | None, outbox: Outbox, doc_id: Any, written: Document | None
    ) -> None:
        try:
            if before is not None:
                await asyncio.wait([before])  # then read what it left
                written = None
            if written is not None:
                await outbox.flush_document(written)
            else:
                await outbox.flush(doc_id)
        except Exception as exc:  # the relay publishes it
            log.warning("outbox.flush_failed", collection=outbox.collection.name, exc_info=exc)

    async def drain(self) -> None:
        """Wait for every flush started (at shutdown, before Kafka closes)."""
        while self._last:
            await asyncio.wait(list(self._last.values()))


# ---- metrics --------------------------------------------------------------------------


def metric_entries(values: Mapping[str, float | int | None]) -> list[Document]:
    """A document's contribution to `sum_metrics`: [{"m": name, "v": value}, ...]."""
    return [{"m": name, "v": value} for name, value in values.items() if value is not None]


async def sum_metrics(
    collection: AsyncCollection[Document], match: Document, *, field: str = "metrics"
) -> dict[str, float]:
    """Sum every metric over the matching documents in one pipeline."""
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
    event id is the claim and carries the event, marked pending (`pending_since`, indexed)
    until it was published. The relay finds unpublished claims by that marker alone."""

    CLAIMS = "emitted_events"
    INDEXES = (IndexModel([("pending_since", ASCENDING)], name="pending", sparse=True),)

    def __init__(
        self, db: AsyncDatabase[Document], publish: Callable[[Envelope], Awaitable[None]]
    ) -> None:
        self.claims: AsyncCollection[Document] = db[self.CLAIMS]
        self.publish = publish

    async def emit(self, event: Envelope) -> bool:
        """Record and publish; False (and nothing published) if it was emitted before."""
        payload = event.model_dump_json()
        claimed = await insert_new(
            self.claims,
            {"_id": event.id, "type": event.type, "subject": event.subject, "at": event.time,
             "json": payload, "pending_since": datetime.now(UTC)},
        )  # fmt: skip
        if not claimed:
            # Emitted before. If that try died before publishing, the relay sends it; doing
            # it here would double a concurrent emitter that is publishing right now.
            return False
        await self._publish(event.id, payload)
        return True

    async def pending(self) -> int:
        """Claims not yet published (a gauge; the marker is indexed)."""
        return await self.claims.count_documents({"pending_since": {"$exists": True}})

    async def _publish(self, event_id: str, payload: str) -> None:
        await self.publish(parse_event(payload))
        await self.claims.update_one({"_id": event_id}, {"$unset": {"pending_since": ""}})

    async def relay(self, *, older_than: timedelta = RELAY_GRACE, limit: int = 500) -> int:
        """Publish claims a crash left unpublished, oldest first (periodic)."""
        cutoff = datetime.now(UTC) - older_than
        cursor = self.claims.find({"pending_since": {"$lte": cutoff}}, {"json": 1})
        missing = [doc async for doc in cursor.sort("pending_since", ASCENDING).limit(limit)]
        for claim in missing:
            await self._publish(claim["_id"], claim["json"])
        return len(missing)
