"""MongoDB storage for sessions: records, every accepted document version, contact facts."""

from __future__ import annotations

from typing import Any

from hotline_shared.mongo import Document
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

INDEXES: dict[str, tuple[IndexModel, ...]] = {
    "sessions": (IndexModel([("contact_id", ASCENDING)]), IndexModel([("status", ASCENDING)])),
    "versions": (
        IndexModel([("session_id", ASCENDING), ("kind", ASCENDING), ("version", DESCENDING)]),
    ),
    "contacts": (IndexModel([("overdue_at", ASCENDING)]),),
    "audit": (IndexModel([("session_id", ASCENDING), ("at", ASCENDING)]),),
}


class SessionStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.sessions = db["sessions"]
        self.versions = db["versions"]
        self.contacts = db["contacts"]
        self.audit = db["audit"]

    async def get(self, session_id: str) -> Document | None:
        return await self.sessions.find_one({"_id": session_id}, {"outbox": 0})

    async def by_contact(self, contact_id: str) -> list[Document]:
        cursor = self.sessions.find({"contact_id": contact_id}, {"outbox": 0}).sort(
            "leg", ASCENDING
        )
        return [doc async for doc in cursor]

    async def insert_version(self, doc: Document) -> bool:
        """The unique `_id` (session:kind:version) admits exactly one write per version."""
        try:
            await self.versions.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def latest_version(self, session_id: str, kind: str) -> Document | None:
        cursor = self.versions.find({"session_id": session_id, "kind": kind}).sort(
            "version", DESCENDING
        )
        async for doc in cursor.limit(1):
            return doc
        return None

    async def all_versions(self, session_id: str, kind: str) -> list[Document]:
        cursor = self.versions.find({"session_id": session_id, "kind": kind}).sort(
            "version", ASCENDING
        )
        return [doc async for doc in cursor]

    async def record_audit(self, **entry: Any) -> None:
        await self.audit.insert_one(entry)
