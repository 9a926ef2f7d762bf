"""Supervisor alerts: stored durably (the supervisors' alert feed, acknowledged there),
POSTed to the center's webhook (HMAC-signed) by a periodic sender with exponential backoff,
so a slow receiver never blocks a consumer; an imminent-risk alert nobody acknowledged in
time goes to the center's on-call webhook too."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import httpx
import structlog
from hotline_shared import metrics, webhooks
from hotline_shared.centers import Centers
from hotline_shared.events import Envelope
from hotline_shared.mongo import Document, insert_all_new
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

log = structlog.get_logger(__name__)

COLLECTION = "alerts"
INDEXES = (
    IndexModel([("status", ASCENDING), ("next_try_at", ASCENDING)]),
    IndexModel([("center_id", ASCENDING), ("at", ASCENDING)]),
    IndexModel([("oncall", ASCENDING), ("at", ASCENDING)]),
)
IMMINENT = "hotline.risk.escalated.v1"
MAX_TRIES = 10
MAX_BACKOFF = timedelta(minutes=10)
CLAIM = timedelta(seconds=30)  # a replica sending an alert holds it this long


class AlertQueue:
    def __init__(self, collection: AsyncCollection[Document], centers: Centers) -> None:
        self.collection = collection
        self.centers = centers

    async def enqueue(self, events: Sequence[Envelope], *, now: datetime) -> None:
        """Store the alerts (the feed shows every one) and queue their delivery, if the
        center has a webhook; one write for all. Keyed by the event id: stored once,
        whoever consumes or publishes the event, however often."""
        docs = []
        for event in events:
            center = self.centers.get(event.centerid)
            if center is None:
                continue
            status = "pending" if center.alert_webhook_url else "not-sent"
            oncall = "waiting" if event.type == IMMINENT else None
            docs.append({"_id": event.id, "center_id": center.id, "type": event.type,
                         "contact_id": event.subject, "at": event.time,
                         "body": event.model_dump_json(), "status": status, "tries": 0,
                         "next_try_at": now, "acked_by": None, "acked_at": None,
                         "oncall": oncall, "oncall_next_at": None})  # fmt: skip
        await insert_all_new(self.collection, docs)

    async def recent(self, center_id: str, *, limit: int) -> list[Document]:
        cursor = self.collection.find({"center_id": center_id}).sort("at", -1).limit(limit)
        return [doc async for doc in cursor]

    async def times_of(self, center_id: str, event_type: str, start: datetime,
                       end: datetime) -> list[datetime]:  # fmt: skip
        """When each alert of a type was raised in [start, end) (e.g. SLA breaches)."""
        match = {"center_id": center_id, "type": event_type, "at": {"$gte": start, "$lt": end}}
        return [d["at"] async for d in self.collection.find(match, {"at": 1})]

    async def get(self, alert_id: str) -> Document | None:
        return await self.collection.find_one({"_id": alert_id})

    async def acknowledge(self, alert: Document, *, by: str, now: datetime) -> bool:
        """The first acknowledgement counts; an imminent alert then stops waiting for on-call."""
        result = await self.collection.update_one({"_id": alert["_id"], "acked_at": None},
                                                  {"$set": {"acked_by": by, "acked_at": now}})  # fmt: skip
        # on-call stands down only if it was still waiting (a page on its way stays sent)
        await self.collection.update_one({"_id": alert["_id"], "oncall": "waiting"},
                                         {"$set": {"oncall": "acknowledged"}})  # fmt: skip
        return result.modified_count == 1

    async def escalate_unacknowledged(self, client: httpx.AsyncClient, *, now: datetime,
                                      after: timedelta, limit: int = 50) -> int:  # fmt: skip
        """Imminent-risk alerts nobody acknowledged within `after`: to the on-call webhook,
        once (a conditional write takes each; a failed POST is tried again next round)."""
        due = self.collection.find({
            "oncall": {"$in": ["waiting", "sending"]}, "at": {"$lte": now - after},
            "$or": [{"oncall_next_at": None}, {"oncall_next_at": {"$lte": now}}],
        }).limit(limit)  # fmt: skip
        sent = 0
        for alert in [a async for a in due]:
            center = self.centers.get(alert["center_id"])
            if (
                center is None
                or not center.oncall_webhook_url
                or center.alert_webhook_secret is None
            ):
                await self.collection.update_one({"_id": alert["_id"], "oncall": "waiting"},
                                                 {"$set": {"oncall": "no-oncall"}})  # fmt: skip
                continue
            # taken for a while: a replica that dies mid-POST leaves it to another after that
            taken = await self.collection.update_one(
                {"_id": alert["_id"], "oncall": alert["oncall"], "oncall_next_at": alert.get("oncall_next_at")},
                {"$set": {"oncall": "sending", "oncall_next_at": now + CLAIM}},
            )  # fmt: skip
            if taken.modified_count != 1:
                continue  # acknowledged meanwhile, or another replica has it
            body = alert["body"].encode()
            secret = center.alert_webhook_secret.get_secret_value()
            headers = {"Content-Type": "application/cloudevents+json", "X-Hotline-Escalation": "on-call",
                       webhooks.HEADER: webhooks.sign(secret, body, int(time.time()))}  # fmt: skip
            try:
                ok = (
                    await client.post(center.oncall_webhook_url, content=body, headers=headers)
                ).is_success
            except httpx.HTTPError:
                ok = False
            tries = alert.get("oncall_tries", 0) + 1
            retry_at = now + min(timedelta(seconds=2**tries), MAX_BACKOFF)
            await self.collection.update_one({"_id": alert["_id"], "oncall": "sending"},
                                             {"$set": {"oncall": "sent" if ok else "waiting",
                                                       "oncall_at": now if ok else None,
                                                       "oncall_next_at": None if ok else retry_at,
                                                       "oncall_tries": tries}})  # fmt: skip
            sent += ok
        return sent

    async def send_due(self, client: httpx.AsyncClient, *, now: datetime, limit: int = 50) -> int:
        sent = 0
        cursor = self.collection.find({"status": "pending", "next_try_at": {"$lte": now}}).limit(
            limit
        )
        for alert in [a async for a in cursor]:
            claimed = await self._claim(alert, now)
            if claimed is not None:
                sent += await self._send(client, claimed, now)
        return sent

    async def _claim(self, alert: Document, now: datetime) -> Document | None:
        """One replica sends each try: a conditional write moves the alert out of reach."""
        return await self.collection.find_one_and_update(
            {"_id": alert["_id"], "status": "pending", "tries": alert["tries"],
             "next_try_at": alert["next_try_at"]},
            {"$set": {"next_try_at": now + CLAIM}},
        )  # fmt: skip

    async def _send(self, client: httpx.AsyncClient, alert: Document, now: datetime) -> int:
        center = self.centers.get(alert["center_id"])
        if center is None or not center.alert_webhook_url:
            await self._finish(alert, {"status": "dropped"})
            metrics.ALERTS.labels(result="dropped").inc()
            return 0
        body = alert["body"].encode()
        if center.alert_webhook_secret is None:  # the centers file refuses this; never unsigned
            await self._finish(alert, {"status": "dropped"})
            metrics.ALERTS.labels(result="dropped").inc()
            return 0
        secret = center.alert_webhook_secret.get_secret_value()
        headers = {"Content-Type": "application/cloudevents+json",
                   webhooks.HEADER: webhooks.sign(secret, body, int(time.time()))}  # fmt: skip
        try:
            response = await client.post(center.alert_webhook_url, content=body, headers=headers)
            ok = response.is_success
        except httpx.HTTPError:
            ok = False
        if ok:
            await self._finish(alert, {"status": "sent", "sent_at": now})
            metrics.ALERTS.labels(result="sent").inc()
            return 1
        metrics.ALERTS.labels(result="failed").inc()
        tries = alert["tries"] + 1
        backoff = min(timedelta(seconds=2**tries), MAX_BACKOFF)
        status = "failed" if tries >= MAX_TRIES else "pending"
        await self._finish(alert, {"tries": tries, "next_try_at": now + backoff, "status": status})
        log.warning("alert.delivery_failed", alert_id=alert["_id"], tries=tries, status=status)
        return 0

    async def _finish(self, alert: Document, fields: Document) -> None:
        await self.collection.update_one(
            {"_id": alert["_id"], "status": "pending", "tries": alert["tries"]}, {"$set": fields}
        )
