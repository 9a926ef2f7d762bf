"""PHI reads per user are rate-limited (a fixed window counted in MongoDB, so every replica
counts the same reads); the first refused read of a window raises one supervisor alert
(`hotline.security.phi-read-burst.v1`, emitted once whoever refuses it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from hotline_shared.auth import Principal, Role
from hotline_shared.events import PhiReadBurst, PhiReadBurstData, new_event
from hotline_shared.mongo import Document, EventLog
from hotline_shared.problems import Problem


class PhiReadLimit:
    COLLECTION = "phi_read_counts"

    def __init__(self, db: AsyncDatabase[Document], events: EventLog, *, per_window: int,
                 window: timedelta, service: str) -> None:  # fmt: skip
        self.counts = db[self.COLLECTION]
        self.events = events
        self.per_window = per_window
        self.window = window
        self.service = service

    async def check(
        self, who: Principal, *, center_id: str, contact_id: str, now: datetime
    ) -> None:
        """Count one PHI read by `who`; 429 with Retry-After once they are over the limit.
        Services (the follow-up service sending caring messages) are not people: not counted."""
        if who.role is Role.SERVICE:
            return
        seconds = self.window.total_seconds()
        start = datetime.fromtimestamp(now.timestamp() // seconds * seconds, UTC)
        key = f"{who.sub}:{int(start.timestamp())}"
        reads = await self._count(key, start)
        if reads <= self.per_window:
            return
        if reads == self.per_window + 1:  # the first refusal: tell a supervisor, once
            data = PhiReadBurstData(contact_id=contact_id, user=who.sub, role=str(who.role),
                                    service=self.service, reads=reads, limit=self.per_window,
                                    window_start=start, window_seconds=seconds)  # fmt: skip
            await self.events.emit(new_event(
                PhiReadBurst, data=data, center_id=center_id, source=f"hotline/{self.service}",
                time=now, cause=(key,)))  # fmt: skip
        retry = max(1, int((start + self.window - now).total_seconds()) + 1)
        raise Problem(429, "Too many reads of caller data", field="Authorization",
                      detail=f"at most {self.per_window} per {int(seconds)} s",
                      headers={"Retry-After": str(retry)})  # fmt: skip

    async def _count(self, key: str, start: datetime) -> int:
        for _ in range(3):  # two replicas creating the same window's counter: one insert wins
            try:
                doc = await self.counts.find_one_and_update(
                    {"_id": key},
                    {"$inc": {"n": 1}, "$setOnInsert": {"window_start": start}},
                    upsert=True,
                    return_document=ReturnDocument.AFTER,
                )
                assert doc is not None  # upserted
                return int(doc["n"])
            except DuplicateKeyError:
                continue
        raise DuplicateKeyError("rate-limit counter kept colliding")
