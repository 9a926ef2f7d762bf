"""SeriesStore: caring-contacts series in MongoDB, one document each (its messages inside, its
timer in `next_fire_at`); OptOuts: who asked for no more messages, per center and caller.

Every write is conditional on the series' `version` and carries the events it causes in its
outbox, as for tasks."""

from __future__ import annotations

from datetime import datetime, timedelta

from hotline_shared.events import Envelope
from hotline_shared.mongo import Document, Outbox, insert_new
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from hotline_followup.domain.caring import (
    Channel,
    Message,
    MessageStatus,
    Series,
    SeriesStatus,
    next_fire_at,
)

COLLECTION = "caring_series"
INDEXES = (
    IndexModel([("next_fire_at", ASCENDING)]),
    IndexModel([("center_id", ASCENDING), ("tokens", ASCENDING)]),
    IndexModel([("messages.provider_id", ASCENDING)]),
    IndexModel([("center_id", ASCENDING), ("created_at", ASCENDING)]),
    Outbox.INDEX,
)
NO_OUTBOX = {"outbox": 0}


def to_series(doc: Document) -> Series:
    return Series(
        id=doc["_id"], contact_id=doc["contact_id"], center_id=doc["center_id"],
        session_id=doc["session_id"], caller_token=doc.get("caller_token"),
        channel=Channel(doc["channel"]), created_at=doc["created_at"],
        window=timedelta(seconds=doc["window_seconds"]), policy_version=doc["policy_version"],
        messages=tuple(_message(m) for m in doc["messages"]), status=SeriesStatus(doc["status"]),
        opted_out_by=doc.get("opted_out_by"), opted_out_at=doc.get("opted_out_at"),
        texted_tokens=tuple(doc.get("texted_tokens", ())),
    )  # fmt: skip


def _message(m: Document) -> Message:
    return Message(
        index=m["index"], send_at=m["send_at"], status=MessageStatus(m["status"]),
        next_try_at=m.get("next_try_at"), tries=m.get("tries", 0),
        channel=Channel(m["channel"]) if m.get("channel") else None,
        provider_id=m.get("provider_id"), sent_at=m.get("sent_at"), reason=m.get("reason"),
    )  # fmt: skip


def series_fields(series: Series) -> Document:
    return {
        "contact_id": series.contact_id, "center_id": series.center_id,
        "session_id": series.session_id, "caller_token": series.caller_token,
        "channel": str(series.channel), "created_at": series.created_at,
        "window_seconds": series.window.total_seconds(), "policy_version": series.policy_version,
        "status": str(series.status), "opted_out_by": series.opted_out_by,
        "opted_out_at": series.opted_out_at, "next_fire_at": next_fire_at(series),
        "texted_tokens": list(series.texted_tokens), "tokens": sorted(series.tokens),
        "messages": [{
            "index": m.index, "send_at": m.send_at, "status": str(m.status),
            "next_try_at": m.next_try_at, "tries": m.tries,
            "channel": str(m.channel) if m.channel else None, "provider_id": m.provider_id,
            "sent_at": m.sent_at, "reason": m.reason,
        } for m in series.messages],
    }  # fmt: skip


class SeriesStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def create(self, series: Series, *, events: list[Envelope], now: datetime) -> bool:
        """Insert keyed by the derived series id: a replayed close starts nothing new."""
        return await insert_new(self.collection, {
            "_id": series.id, "version": 1, **series_fields(series), **Outbox.fields(events, now),
        })  # fmt: skip

    async def get(self, series_id: str) -> Document | None:
        return await self.collection.find_one({"_id": series_id}, NO_OUTBOX)

    async def save(
        self, series: Series, *, version: int, events: list[Envelope], now: datetime
    ) -> bool:
        update = Outbox.update({"$set": series_fields(series), "$inc": {"version": 1}}, events, now)
        result = await self.collection.update_one({"_id": series.id, "version": version}, update)
        return result.modified_count == 1

    async def due(self, *, now: datetime, limit: int) -> list[str]:
        cursor = self.collection.find({"next_fire_at": {"$lte": now}}, {"_id": 1})
        return [doc["_id"] async for doc in cursor.sort("next_fire_at", ASCENDING).limit(limit)]

    async def active_for_caller(self, center_id: str, caller_token: str) -> list[str]:
        cursor = self.collection.find(
            {"center_id": center_id, "tokens": caller_token,
             "status": str(SeriesStatus.ACTIVE)}, {"_id": 1},
        )  # fmt: skip
        return [doc["_id"] async for doc in cursor]

    async def for_caller(self, center_id: str, caller_token: str) -> list[str]:
        """A person's series, newest first (whatever their state)."""
        cursor = self.collection.find({"center_id": center_id, "tokens": caller_token}, {"_id": 1})
        return [doc["_id"] async for doc in cursor.sort("created_at", -1)]

    async def by_provider_id(self, center_id: str, provider_id: str) -> Document | None:
        return await self.collection.find_one(
            {"center_id": center_id, "messages.provider_id": provider_id}, NO_OUTBOX
        )

    async def page(self, query: Document, limit: int) -> list[Document]:
        cursor = self.collection.find(query, NO_OUTBOX).sort(
            [("created_at", ASCENDING), ("_id", ASCENDING)]
        )
        return [doc async for doc in cursor.limit(limit)]

    async def counts(self, center_id: str) -> Document:
        """Series by status and messages by status, for the follow-up KPIs."""
        series: Document = {str(s): 0 for s in SeriesStatus}
        messages: Document = {str(s): 0 for s in MessageStatus}
        pipeline: list[Document] = [
            {"$match": {"center_id": center_id}},
            {"$group": {"_id": "$status", "n": {"$sum": 1}}},
        ]
        async for doc in await self.collection.aggregate(pipeline):
            series[doc["_id"]] = doc["n"]
        pipeline = [
            {"$match": {"center_id": center_id}},
            {"$unwind": "$messages"},
            {"$group": {"_id": "$messages.status", "n": {"$sum": 1}}},
        ]
        async for doc in await self.collection.aggregate(pipeline):
            messages[doc["_id"]] = doc["n"]
        return {"series": series, "messages": messages}


class OptOuts:
    """A caller's opt-out (by caller token, per center): it stops every series started before
    it, including one whose close is still on its way when the STOP arrives."""

    COLLECTION = "caring_opt_outs"

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[self.COLLECTION]

    async def record(self, center_id: str, caller_token: str, *, at: datetime, by: str) -> None:
        await self.collection.update_one(
            {"_id": f"{center_id}:{caller_token}"},
            {"$max": {"at": at}, "$set": {"by": by}},
            upsert=True,
        )

    async def since(self, center_id: str, caller_token: str) -> datetime | None:
        doc = await self.collection.find_one({"_id": f"{center_id}:{caller_token}"})
        return doc["at"] if doc else None
