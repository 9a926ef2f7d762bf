"""Retention: each service deletes its records once the center's retention period is over
(clinical 7 years, operational 90 days by default), except a contact's records under legal
hold; every run is audited. Time is a parameter (a fake clock in tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from hotline_shared.audit import AuditLog
from hotline_shared.centers import Centers, Retention
from hotline_shared.mongo import Document

Kind = Literal["clinical", "operational"]
BATCH = 500


@dataclass(frozen=True)
class Rule:
    """A collection's records expire `kind` days after `time_field`."""

    collection: str
    time_field: str
    kind: Kind
    contact_field: str | None = "contact_id"  # a held contact's records are kept
    center_field: str | None = "center_id"  # None: records of no one center (the longest wins)
    children: tuple[tuple[str, str], ...] = ()  # (collection, field naming this record's id)


def cutoff(retention: Retention, kind: Kind, now: datetime) -> datetime:
    days = retention.clinical_days if kind == "clinical" else retention.operational_days
    return now - timedelta(days=days)


class LegalHolds:
    """Contacts under legal hold, as this service last heard (newest change wins)."""

    COLLECTION = "legal_holds"
    INDEXES = (IndexModel([("center_id", ASCENDING), ("held", ASCENDING)]),)

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[self.COLLECTION]

    async def change(self, *, contact_id: str, center_id: str, held: bool, at: datetime) -> None:
        current = await self.collection.find_one({"_id": contact_id})
        if current is not None and current["at"] >= at:
            return  # a newer change is already here (events arrive in any order)
        await self.collection.update_one(
            {"_id": contact_id, **({"at": current["at"]} if current else {})},
            {"$set": {"center_id": center_id, "held": held, "at": at}},
            upsert=current is None,
        )

    async def held(self, center_id: str) -> list[str]:
        cursor = self.collection.find({"center_id": center_id, "held": True}, {"_id": 1})
        return [doc["_id"] async for doc in cursor]


async def purge(db: AsyncDatabase[Document], rules: tuple[Rule, ...], centers: Centers, *,
                now: datetime) -> dict[str, dict[str, int]]:  # fmt: skip
    """Delete what has expired; returns the deletions per center and collection ("*" for
    records of no one center)."""
    holds = LegalHolds(db)
    held = {c.id: await holds.held(c.id) for c in centers}
    deleted: dict[str, dict[str, int]] = {}
    longest = Retention(
        clinical_days=max((c.retention.clinical_days for c in centers), default=2557),
        operational_days=max((c.retention.operational_days for c in centers), default=90),
    )
    for rule in rules:
        scopes = [(c.id, c.retention) for c in centers] if rule.center_field else [("*", longest)]
        for center_id, retention in scopes:
            query: Document = {rule.time_field: {"$lt": cutoff(retention, rule.kind, now)}}
            if rule.center_field:
                query[rule.center_field] = center_id
            if rule.contact_field:
                query[rule.contact_field] = {"$nin": held[center_id]}
            count = await _delete(db, rule, query)
            if count:
                deleted.setdefault(center_id, {})[rule.collection] = count
    return deleted


async def _delete(db: AsyncDatabase[Document], rule: Rule, query: Document) -> int:
    count = 0
    while True:
        cursor = db[rule.collection].find(query, {"_id": 1}).limit(BATCH)
        ids = [doc["_id"] async for doc in cursor]
        if not ids:
            return count
        for child, field in rule.children:  # a record's parts first: never orphans
            await db[child].delete_many({field: {"$in": ids}})
        result = await db[rule.collection].delete_many({"_id": {"$in": ids}})
        count += result.deleted_count


async def run_retention(db: AsyncDatabase[Document], rules: tuple[Rule, ...], centers: Centers,
                        audit: AuditLog, *, now: datetime, service: str) -> dict[str, dict[str, int]]:  # fmt: skip
    """A retention run; what it deleted of a center's records is audited in that center's
    chain (records of no one center — event claims, counters — hold no caller data)."""
    deleted = await purge(db, rules, centers, now=now)
    for center in centers:
        if center.id in deleted:
            await audit.record(
                center_id=center.id, action="retention.purge", actor=f"service:{service}",
                role="service", reason="retention-policy", at=now, deleted=deleted[center.id],
                clinical_before=cutoff(center.retention, "clinical", now),
                operational_before=cutoff(center.retention, "operational", now),
            )  # fmt: skip
    return deleted
