"""ContactStore: contacts in MongoDB (state, encrypted caller number, outbox, KPI metrics).

Every write is conditional on the document's `version` (or a unique insert)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hotline_shared.events import Channel, Envelope, Provider
from hotline_shared.mongo import Document, Outbox, insert_new, metric_entries, sum_metrics
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection

from hotline_intake.domain.contact import (
    ContactState,
    Milestone,
    abandon_wait_seconds,
    handle_seconds,
    is_short_abandon,
    longest_wait_seconds,
    wait_seconds,
)

COLLECTION = "contacts"
INDEXES = (
    IndexModel([("center_id", ASCENDING), ("queued_at", ASCENDING)]),
    IndexModel([("settle_due_at", ASCENDING)]),
    IndexModel([("caller_token", ASCENDING)]),
    Outbox.INDEX,
)


@dataclass(frozen=True)
class Caller:
    token: str | None
    number_ciphertext: str | None
    reachable: bool


@dataclass(frozen=True)
class StoredContact:
    state: ContactState
    center_id: str
    version: int
    caller: Caller
    doc: Document


def to_state(doc: Document) -> ContactState:
    return ContactState(
        contact_id=doc["_id"],
        provider=Provider(doc["provider"]),
        provider_contact_id=doc["provider_contact_id"],
        channel=Channel(doc["channel"]),
        times={Milestone(k): v for k, v in doc.get("times", {}).items()},
        emitted=tuple(Milestone(m) for m in doc.get("emitted", [])),
        seen=tuple(doc.get("seen", [])),
        inferred=frozenset(Milestone(m) for m in doc.get("inferred", [])),
        noticed={Milestone(k): v for k, v in doc.get("noticed", {}).items()},
        queue_wait_seconds=doc.get("queue_wait_seconds"),
        bridged=doc.get("bridged", False),
        outcome_final=doc.get("outcome_final", False),
        counselor_id=doc.get("counselor_id"),
        counselors=tuple(doc.get("counselors", ())),
        to_center_id=doc.get("to_center_id"),
        failure=doc.get("failure"),
        after_work_ended_at=doc.get("after_work_ended_at"),
    )


def _state_fields(
    state: ContactState, *, center_id: str, now: datetime, settle_after: timedelta,
    short_abandon_seconds: float,
) -> Document:  # fmt: skip
    """The stored state, and its contribution to the KPIs (definitions in service_layer)."""
    times = state.times
    answered = Milestone.ANSWERED in state.emitted
    left = Milestone.ABANDONED in state.emitted
    short = left and is_short_abandon(state, short_abandon_seconds)
    abandoned = left and not short
    failed = Milestone.FAILED in state.emitted
    transferred = Milestone.TRANSFERRED in state.emitted
    out_of_center = state.to_center_id is not None and state.to_center_id != center_id
    unsettled = not state.terminal and bool(set(times) - set(state.emitted))
    wait = wait_seconds(state) if answered else None
    return {
        "provider": str(state.provider),
        "provider_contact_id": state.provider_contact_id,
        "channel": str(state.channel),
        "status": str(state.status) if state.status else None,
        "times": {str(k): v for k, v in times.items()},
        "emitted": [str(m) for m in state.emitted],
        "seen": list(state.seen),
        "inferred": sorted(str(m) for m in state.inferred),
        "noticed": {str(k): v for k, v in state.noticed.items()},
        "queue_wait_seconds": state.queue_wait_seconds,
        "bridged": state.bridged,
        "outcome_final": state.outcome_final,
        "counselor_id": state.counselor_id,
        "counselors": list(state.counselors),
        "to_center_id": state.to_center_id,
        "failure": state.failure,
        "after_work_ended_at": state.after_work_ended_at,
        "longest_wait_s": longest_wait_seconds(state) if Milestone.QUEUED in times else None,
        "short_abandon": short,
        "queued_at": times.get(Milestone.QUEUED),
        "wait_s": wait,
        "settle_due_at": now + settle_after if unsettled else None,
        "metrics": metric_entries(
            {
                "offered": 1 if Milestone.QUEUED in times else None,
                "answered": 1 if answered else None,
                "abandoned": 1 if abandoned else None,
                "short_abandoned": 1 if short else None,
                "failed": 1 if failed else None,
                "transferred": 1 if Milestone.TRANSFERRED in state.emitted else None,
                "transferred_out": 1 if transferred and out_of_center else None,
                "transferred_within": 1 if transferred and not out_of_center else None,
                "wait_s": wait,
                "handled": 1 if answered and Milestone.ENDED in times else None,
                "handle_s": handle_seconds(state) if answered else None,
                "abandon_wait_s": abandon_wait_seconds(state) if abandoned else None,
            }
        ),
    }


class ContactStore:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection

    async def get(self, contact_id: str) -> StoredContact | None:
        doc = await self.collection.find_one({"_id": contact_id}, {"outbox": 0})
        if doc is None:
            return None
        caller = Caller(
            doc.get("caller_token"), doc.get("caller_number"), doc.get("caller_reachable", False)
        )
        return StoredContact(to_state(doc), doc["center_id"], doc["version"], caller, doc)

    async def save(
        self,
        state: ContactState,
        *,
        center_id: str,
        expected_version: int | None,
        caller: Caller,
        events: list[Envelope],
        now: datetime,
        settle_after: timedelta,
        short_abandon_seconds: float = 5.0,
    ) -> Document | None:
        """Write state and its events in one document write: the document's outbox as it is
        now (for `Outbox.flush_document`), or None on a concurrent change."""
        fields = _state_fields(state, center_id=center_id, now=now, settle_after=settle_after,
                               short_abandon_seconds=short_abandon_seconds)  # fmt: skip
        fields |= {
            "caller_token": caller.token,
            "caller_number": caller.number_ciphertext,
            "caller_reachable": caller.reachable,
            "updated_at": now,
        }
        if expected_version is None:
            outbox = {"_id": state.contact_id, **Outbox.fields(events, now)}
            inserted = await insert_new(self.collection, {
                "center_id": center_id, "version": 1, "created_at": now, **outbox, **fields,
            })  # fmt: skip
            return outbox if inserted else None
        update = Outbox.update({"$set": fields, "$inc": {"version": 1}}, events, now)
        return await self.collection.find_one_and_update(
            {"_id": state.contact_id, "version": expected_version}, update,
            projection=Outbox.PROJECTION, return_document=ReturnDocument.AFTER,
        )  # fmt: skip

    async def unsettled(self, now: datetime, limit: int = 200) -> list[str]:
        cursor = self.collection.find({"settle_due_at": {"$lte": now}}, {"_id": 1}).limit(limit)
        return [doc["_id"] async for doc in cursor]

    async def set_caller(
        self, stored: StoredContact, caller: Caller, event: Envelope, *, now: datetime
    ) -> bool:
        """Record a callback number (and its event) if nobody changed the contact meanwhile."""
        fields = {"caller_token": caller.token, "caller_number": caller.number_ciphertext,
                  "caller_reachable": caller.reachable, "updated_at": now}  # fmt: skip
        update = Outbox.update({"$set": fields, "$inc": {"version": 1}}, [event], now)
        result = await self.collection.update_one(
            {"_id": stored.state.contact_id, "version": stored.version}, update
        )
        return result.modified_count == 1

    async def take(self, stored: StoredContact, user: str) -> bool:
        """A counselor takes a contact no provider assigned (if still unchanged)."""
        result = await self.collection.update_one(
            {"_id": stored.state.contact_id, "version": stored.version},
            {"$addToSet": {"assigned_to": user}, "$inc": {"version": 1}},
        )
        return result.modified_count == 1

    async def set_email(self, stored: StoredContact, sealed: str, *, now: datetime) -> bool:
        """Record the caller's (encrypted) email if nobody changed the contact meanwhile."""
        result = await self.collection.update_one(
            {"_id": stored.state.contact_id, "version": stored.version},
            {"$set": {"caller_email": sealed, "updated_at": now}, "$inc": {"version": 1}},
        )
        return result.modified_count == 1

    async def set_risk(self, stored: StoredContact, risk: Document) -> bool:
        """Record the contact's current risk; False on a concurrent change."""
        result = await self.collection.update_one(
            {"_id": stored.state.contact_id, "version": stored.version},
            {"$set": {"risk": risk}, "$inc": {"version": 1}},
        )
        return result.modified_count == 1

    async def assigned(self, center_id: str, *, since: datetime, user: str | None = None,
                       agent_ids: tuple[str, ...] = (), limit: int = 50) -> list[Document]:  # fmt: skip
        """The center's answered contacts created since `since`, newest first; with `user`,
        only those that user answered (by user or agent id) or took."""
        query: Document = {"center_id": center_id, "created_at": {"$gte": since}}
        if user is None:
            query["counselors.0"] = {"$exists": True}
        else:
            query["$or"] = [{"counselors": {"$in": [user, *agent_ids]}}, {"assigned_to": user}]
        cursor = self.collection.find(query, {"outbox": 0}).sort("created_at", -1).limit(limit)
        return [doc async for doc in cursor]

    async def of_caller(
        self, center_id: str, caller_token: str, *, limit: int = 20
    ) -> list[Document]:
        """The caller's contacts in this center (by pseudonymous token), newest first."""
        query = {"center_id": center_id, "caller_token": caller_token}
        cursor = self.collection.find(query, {"outbox": 0}).sort("created_at", -1).limit(limit)
        return [doc async for doc in cursor]

    async def queued_between(
        self, center_id: str, start: datetime, end: datetime
    ) -> list[Document]:
        """Each contact queued in [start, end): when, and its KPI metrics."""
        match = {"center_id": center_id, "queued_at": {"$gte": start, "$lt": end}}
        return [d async for d in self.collection.find(match, {"queued_at": 1, "metrics": 1})]

    async def waiting_since(self, center_id: str, since: datetime) -> list[datetime]:
        """When each contact still in the queue (queued since `since`) began to wait."""
        match = {"center_id": center_id, "status": "queued", "queued_at": {"$gte": since}}
        return [d["queued_at"] async for d in self.collection.find(match, {"queued_at": 1})]

    async def counselors_on_contacts(self, center_id: str, since: datetime) -> set[str]:
        """Who is on a contact now (its latest counselor), among contacts created since."""
        match = {"center_id": center_id, "status": {"$in": ["answered", "transferred"]},
                 "created_at": {"$gte": since}}  # fmt: skip
        return {c async for d in self.collection.find(match, {"counselors": 1})
                for c in d.get("counselors", [])[-1:]}  # fmt: skip

    async def kpi_sums(self, match: Document) -> dict[str, float]:
        return await sum_metrics(self.collection, match)

    async def longest_wait(self, match: Document) -> float | None:
        pipeline = [{"$match": match}, {"$group": {"_id": None, "w": {"$max": "$longest_wait_s"}}}]
        async for doc in await self.collection.aggregate(pipeline):
            return float(doc["w"]) if doc["w"] is not None else None
        return None

    async def count(self, match: Document) -> int:
        return await self.collection.count_documents(match)
