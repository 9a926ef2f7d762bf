"""Supervisor alerts: queued durably, POSTed to the center's webhook (HMAC-signed) by a
periodic sender with exponential backoff, so a slow receiver never blocks a consumer."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timedelta

import httpx
import structlog
from hotline_shared import webhooks
from hotline_shared.centers import Centers
from hotline_shared.events import Envelope
from hotline_shared.mongo import Document
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

log = structlog.get_logger(__name__)

COLLECTION = "alerts"
INDEXES = (IndexModel([("status", ASCENDING), ("next_try_at", ASCENDING)]),)
MAX_TRIES = 10
MAX_BACKOFF = timedelta(minutes=10)
CLAIM = timedelta(seconds=30)  # a replica sending an alert holds it this long


class AlertQueue:
    def __init__(self, collection: AsyncCollection[Document], centers: Centers) -> None:
        self.collection = collection
        self.centers = centers

    async def enqueue(self, event: Envelope, *, now: datetime) -> None:
        center = self.centers.get(event.centerid)
        if center is None or not center.alert_webhook_url:
            return
        with contextlib.suppress(DuplicateKeyError):  # keyed by the event id: queued once
            await self.collection.insert_one({"_id": event.id, "center_id": center.id, "type": event.type,
                                              "body": event.model_dump_json(), "status": "pending",
                                              "tries": 0, "next_try_at": now})  # fmt: skip

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
            return 0
        body = alert["body"].encode()
        if center.alert_webhook_secret is None:  # the centers file refuses this; never unsigned
            await self._finish(alert, {"status": "dropped"})
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
            return 1
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
