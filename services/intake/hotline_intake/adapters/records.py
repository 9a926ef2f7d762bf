"""Screening and escalation stores, and the append-only PHI audit log, in MongoDB.

Records are inserted once (keyed by a derived id, carrying their event in the outbox);
an escalation's EMS confirmation is a write conditional on the record's `version`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hotline_shared import audit
from hotline_shared.events import Envelope
from hotline_shared.mongo import Document, Outbox, insert_new
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

INDEXES = {
    "screenings": (
        IndexModel([("contact_id", ASCENDING), ("assessed_at", ASCENDING)]),
        Outbox.INDEX,
    ),
    "escalations": (IndexModel([("contact_id", ASCENDING)]), Outbox.INDEX),
    "audit": (IndexModel([("contact_id", ASCENDING), ("at", ASCENDING)]), *audit.INDEXES),
}


class RecordStore:
    """Insert-once records (screenings, escalations) that carry their event."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def insert(self, doc: Document, event: Envelope | None, *, now: datetime) -> Document:
        """Insert a record with its event in the outbox; an existing record (same id) wins."""
        events = [event] if event is not None else []
        if await insert_new(self.collection, {**doc, "version": 1, "created_at": now,
                                              **Outbox.fields(events, now)}):  # fmt: skip
            return doc
        existing = await self.get(doc["_id"])
        assert existing is not None
        return existing

    async def get(self, record_id: str, **match: Any) -> Document | None:
        return await self.collection.find_one({"_id": record_id, **match}, {"outbox": 0})

    async def find(self, match: Document, fields: Document | None = None) -> list[Document]:
        """The records matching `match` (a contact's escalations, a window's screens)."""
        return [d async for d in self.collection.find(match, fields or {"outbox": 0})]

    async def update(
        self, record: Document, fields: Document, events: Sequence[Envelope], *, now: datetime
    ) -> bool:
        """Set `fields` and queue `events` if nobody changed the record since it was read."""
        update = Outbox.update({"$set": fields, "$inc": {"version": 1}}, events, now)
        result = await self.collection.update_one(
            {"_id": record["_id"], "version": record.get("version", 1)}, update
        )
        return result.modified_count == 1
