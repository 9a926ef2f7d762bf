"""MongoDB storage of screenings, escalations and the append-only PHI audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hotline_shared.events import Envelope
from hotline_shared.mongo import Document
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

INDEXES = {
    "screenings": (IndexModel([("contact_id", ASCENDING), ("assessed_at", ASCENDING)]),),
    "escalations": (IndexModel([("contact_id", ASCENDING)]),),
    "audit": (IndexModel([("contact_id", ASCENDING), ("at", ASCENDING)]),),
}


async def insert_with_event(
    collection: AsyncCollection[Document], doc: Document, event: Envelope
) -> Document:
    """Insert a record with its event in the outbox; an existing record (same id) wins."""
    try:
        await collection.insert_one({**doc, "outbox": [event.model_dump_json()]})
    except DuplicateKeyError:
        existing = await collection.find_one({"_id": doc["_id"]}, {"outbox": 0})
        assert existing is not None
        return existing
    return doc


class AuditLog:
    """Append-only: inserts only, no update or delete path exists in the code."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db["audit"]

    async def record(self, *, action: str, actor: str, role: str, contact_id: str,
                     center_id: str, reason: str, at: datetime, **extra: Any) -> None:  # fmt: skip
        await self.collection.insert_one(
            {
                "action": action,
                "actor": actor,
                "role": role,
                "contact_id": contact_id,
                "center_id": center_id,
                "reason": reason,
                "at": at,
                **extra,
            }
        )
