"""SessionStore and ContactFacts: sessions' storage ports in MongoDB.

A session document holds its status, a `version` bumped by every write, and per kind of
document the accepted version and its head (the ciphertext); every accepted version is also
kept in `versions`. Each write is conditional, so the database decides every race: an
autosave and a close, two autosaves of one version, two replicas firing one overdue check.
"""

from __future__ import annotations

from datetime import datetime

from hotline_shared import audit
from hotline_shared.events import Envelope
from hotline_shared.mongo import Document, Outbox, insert_new
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from hotline_sessions.domain.session import Overdue, Status

INDEXES: dict[str, tuple[IndexModel, ...]] = {
    "sessions": (
        IndexModel([("contact_id", ASCENDING)]),
        IndexModel([("caller_token", ASCENDING)]),
        IndexModel([("close_pending_since", ASCENDING)], sparse=True),
        Outbox.INDEX,
    ),
    "versions": (
        IndexModel([("session_id", ASCENDING), ("kind", ASCENDING), ("version", DESCENDING)]),
    ),
    "contacts": (IndexModel([("overdue", ASCENDING), ("overdue_at", ASCENDING)]),),
    "audit": (IndexModel([("session_id", ASCENDING), ("at", ASCENDING)]), *audit.INDEXES),
}
NO_OUTBOX = {"outbox": 0}


class SessionStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.sessions = db["sessions"]
        self.versions = db["versions"]

    async def open(self, doc: Document, event: Envelope, *, now: datetime) -> bool:
        """Insert keyed by the derived session id: a replayed `answered` creates nothing."""
        return await insert_new(self.sessions, {**doc, "version": 1, **Outbox.fields([event], now)})

    async def get(self, session_id: str) -> Document | None:
        return await self.sessions.find_one({"_id": session_id}, NO_OUTBOX)

    async def by_contact(self, contact_id: str) -> list[Document]:
        cursor = self.sessions.find({"contact_id": contact_id}, NO_OUTBOX).sort("leg", ASCENDING)
        return [doc async for doc in cursor]

    async def of_caller(
        self, center_id: str, caller_token: str, *, limit: int = 20
    ) -> list[Document]:
        """The caller's sessions in this center (pseudonymous token), newest first."""
        query = {"center_id": center_id, "caller_token": caller_token}
        cursor = self.sessions.find(query, NO_OUTBOX).sort("opened_at", -1).limit(limit)
        return [doc async for doc in cursor]

    async def closed_between(
        self, center_id: str, start: datetime, end: datetime
    ) -> list[Document]:
        query = {"center_id": center_id, "status": str(Status.CLOSED),
                 "close.closed_at": {"$gte": start, "$lt": end}}  # fmt: skip
        return [d async for d in self.sessions.find(query, {"counselor_id": 1, "contact_id": 1,
                                                            "close": 1, "review": 1})]  # fmt: skip

    async def set_review(self, session_id: str, review: Document) -> bool:
        """The latest review shows; every review is kept (two supervisors lose nothing)."""
        result = await self.sessions.update_one(
            {"_id": session_id}, {"$set": {"review": review}, "$push": {"review_history": review}}
        )
        return result.matched_count == 1

    async def open_total(self) -> int:
        """Sessions open across every center (a gauge)."""
        return await self.sessions.count_documents({"status": str(Status.OPEN)})

    async def open_count(self, contact_id: str) -> int:
        return await self.sessions.count_documents(
            {"contact_id": contact_id, "status": str(Status.OPEN)}
        )

    async def first_open(self, contact_id: str) -> str | None:
        doc = await self.sessions.find_one(
            {"contact_id": contact_id, "status": str(Status.OPEN)}, {"_id": 1}
        )
        return doc["_id"] if doc else None

    async def take(self, session: Document, user: str) -> bool:
        """A counselor takes a session nobody answered by name (if still unchanged)."""
        result = await self.sessions.update_one(
            {"_id": session["_id"], "version": session["version"]},
            {"$addToSet": {"assigned_to": user}, "$inc": {"version": 1}},
        )
        return result.modified_count == 1

    async def accept_version(
        self, session_id: str, kind: str, *, base: int, head: Document
    ) -> bool:
        """The autosave's one decisive write: only while open and still at `base`."""
        result = await self.sessions.update_one(
            {"_id": session_id, "status": str(Status.OPEN), f"versions.{kind}": base},
            {"$set": {f"versions.{kind}": head["version"], f"heads.{kind}": head,
                      "updated_at": head["at"]}, "$inc": {"version": 1}},
        )  # fmt: skip
        return result.modified_count == 1

    async def keep_version(self, session_id: str, kind: str, head: Document) -> None:
        """History of accepted versions (the head is authoritative if a crash skipped this)."""
        await insert_new(self.versions, {"_id": f"{session_id}:{kind}:{head['version']}",
                                         "session_id": session_id, "kind": kind, **head})  # fmt: skip

    async def history(self, session: Document, kind: str) -> list[Document]:
        head = (session.get("heads") or {}).get(kind)
        upto = head["version"] if head else 0
        cursor = self.versions.find(
            {"session_id": session["_id"], "kind": kind, "version": {"$lte": upto}}
        ).sort("version", ASCENDING)
        kept = [doc async for doc in cursor]
        if head and (not kept or kept[-1]["version"] != upto):
            kept.append(head)
        return kept

    async def close(self, session: Document, close: Document, *, now: datetime) -> bool:
        """Close if nobody wrote since `session` was read (an autosave bumps the version)."""
        result = await self.sessions.update_one(
            {"_id": session["_id"], "version": session["version"], "status": str(Status.OPEN)},
            {"$set": {"status": str(Status.CLOSED), "close": close, "close_pending_since": now},
             "$inc": {"version": 1}},
        )  # fmt: skip
        return result.modified_count == 1

    async def close_emitted(self, session_id: str) -> None:
        await self.sessions.update_one(
            {"_id": session_id, "close_pending_since": {"$exists": True}},
            {"$unset": {"close_pending_since": ""}},
        )

    async def closes_pending(self, *, before: datetime, limit: int = 200) -> list[Document]:
        cursor = self.sessions.find({"close_pending_since": {"$lte": before}}, NO_OUTBOX)
        return [doc async for doc in cursor.sort("close_pending_since", ASCENDING).limit(limit)]

    async def add_addendum(self, session: Document, entry: Document) -> bool:
        result = await self.sessions.update_one(
            {"_id": session["_id"], "version": session["version"]},
            {"$push": {"addenda": entry}, "$inc": {"version": 1}},
        )
        return result.modified_count == 1


class ContactFacts:
    """What sessions knows about a contact from other services' events: its newest risk and
    escalation, when it ended, and where the documentation-overdue check stands."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.contacts = db["contacts"]

    async def get(self, contact_id: str) -> Document | None:
        return await self.contacts.find_one({"_id": contact_id})

    async def write(self, current: Document | None, contact_id: str, fields: Document) -> bool:
        """Insert, or update if unchanged since `current` was read; False on a race."""
        if current is None:
            return await insert_new(self.contacts, {"_id": contact_id, "version": 1, **fields})
        result = await self.contacts.update_one(
            {"_id": contact_id, "version": current["version"]},
            {"$set": fields, "$inc": {"version": 1}},
        )
        return result.modified_count == 1

    async def overdue_due(self, now: datetime, limit: int = 200) -> list[Document]:
        cursor = self.contacts.find({"overdue": str(Overdue.PENDING), "overdue_at": {"$lte": now}})
        return [doc async for doc in cursor.limit(limit)]
