"""The live feed: this replica reads every hotline topic (no PHI is on them) in a consumer
group of its own, keeps the latest events in a ring, and hands each signed-in browser the
ones that concern its user over Server-Sent Events. A browser that reconnects names the last
event it saw (`Last-Event-ID`) and gets what came after it, or, when this replica cannot
know (restarted, another replica, too old), a `resync` telling it to reload its lists."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from hotline_shared.auth import Principal, Role
from hotline_shared.events import ALL_TOPICS, DLQ_TOPIC
from hotline_shared.kafka import ensure_topics
from hotline_shared.settings import KafkaSettings

log = structlog.get_logger(__name__)

ANSWERED = "hotline.contact.answered.v1"
OPENED = "hotline.session.opened.v1"


@dataclass(frozen=True)
class FeedEvent:
    seq: int
    envelope: dict[str, Any]

    @property
    def center_id(self) -> str:
        return str(self.envelope.get("centerid", ""))

    @property
    def contact_id(self) -> str:
        return str(self.envelope.get("subject", ""))


@dataclass(eq=False)  # each connection is its own (hashable by identity)
class Watcher:
    """One browser connection: who it is and the contacts it already knows are theirs."""

    principal: Principal
    mine: set[str] = field(default_factory=set)
    queue: asyncio.Queue[FeedEvent | None] = field(default_factory=lambda: asyncio.Queue(1000))
    lost: bool = False  # the browser fell behind and events were dropped: it must resync

    def concerns(self, event: FeedEvent) -> bool:
        """Events of the user's centers; for a counselor, only their own contacts: one the
        provider says they answered (user or agent id), and what follows on it."""
        who = self.principal
        if not who.can_access(event.center_id):
            return False
        if who.role is not Role.COUNSELOR:
            return True
        data = event.envelope.get("data") or {}
        names_them = data.get("counselor_id") in {who.sub, *who.agent_ids}
        if event.envelope.get("type") in (ANSWERED, OPENED) and names_them:
            self.mine.add(event.contact_id)
        return event.contact_id in self.mine


class Feed:
    def __init__(self, settings: KafkaSettings, *, group_id: str, capacity: int) -> None:
        self.settings = settings
        self.group_id = group_id
        self.boot = uuid.uuid4().hex[:12]  # event ids are only meaningful to this process
        self.ring: deque[FeedEvent] = deque(maxlen=capacity)
        self.watchers: set[Watcher] = set()
        self.ready = False
        self._seq = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await ensure_topics(self.settings)
        topics = [self.settings.topic_prefix + t for t in ALL_TOPICS if t != DLQ_TOPIC]
        # a live view: a fetch returns within 50 ms rather than waiting for a fuller batch
        self._consumer = AIOKafkaConsumer(
            *topics, group_id=self.group_id, auto_offset_reset="latest",
            enable_auto_commit=True, fetch_max_wait_ms=50, **self.settings.client_options(),
        )  # fmt: skip
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="console-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500)
                if not self.ready and consumer.assignment():
                    for tp in consumer.assignment():  # positions fixed: nothing after is missed
                        await consumer.position(tp)
                    self.ready = True
                for records in batches.values():
                    for record in records:
                        self.publish(record.value)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a live view: log, keep going
                log.error("feed.failed", exc_info=exc)
                await asyncio.sleep(1)  # back off before polling again

    def publish(self, raw: bytes | None) -> None:
        try:
            envelope = json.loads(raw or b"")
        except ValueError:
            return
        if not isinstance(envelope, dict):
            return
        self._seq += 1
        event = FeedEvent(self._seq, envelope)
        self.ring.append(event)
        for watcher in list(self.watchers):
            if watcher.concerns(event):
                try:
                    watcher.queue.put_nowait(event)
                except asyncio.QueueFull:
                    watcher.lost = True

    def event_id(self, event: FeedEvent) -> str:
        return f"{self.boot}.{event.seq}"

    def since(self, last_event_id: str | None) -> Iterable[FeedEvent] | None:
        """The events after `last_event_id`, or None when this replica cannot tell."""
        if not last_event_id:
            return ()
        boot, _, seq = last_event_id.partition(".")
        if boot != self.boot or not seq.isdigit():
            return None
        after = int(seq)
        if self.ring and self.ring[0].seq > after + 1:
            return None  # fell out of the ring
        return [e for e in self.ring if e.seq > after]

    async def stream(self, principal: Principal, *, last_event_id: str | None,
                     known: Callable[[], Awaitable[Iterable[str]]],
                     alive: Callable[[], Awaitable[bool]],
                     heartbeat: float = 15.0) -> AsyncIterator[str]:  # fmt: skip
        """Server-Sent Events for one browser. The watcher is registered before anything is
        awaited, so nothing published meanwhile is missed; `known` then adds the user's
        contacts; `alive` is asked at every heartbeat (a signed-out or expired sign-in
        ends the stream)."""
        watcher = Watcher(principal)
        self.watchers.add(watcher)
        try:
            watcher.mine.update(await known())
            yield "retry: 1000\n\n"
            replayed = 0  # events up to this one were sent from the ring (and may be queued too)
            missed = self.since(last_event_id)
            if missed is None:
                yield _frame("resync", {"boot": self.boot}, event_id=f"{self.boot}.{self._seq}")
            elif last_event_id:
                replayed = self._seq
                for old in missed:
                    if old.seq <= replayed and watcher.concerns(old):
                        yield _frame("hotline", old.envelope, event_id=self.event_id(old))
            while True:
                try:
                    event = await asyncio.wait_for(watcher.queue.get(), timeout=heartbeat)
                except TimeoutError:
                    if not await alive():
                        return
                    yield ": keep-alive\n\n"
                    continue
                if event is None:
                    return
                if watcher.lost:
                    while not watcher.queue.empty():
                        watcher.queue.get_nowait()
                    watcher.lost = False
                    yield _frame("resync", {"boot": self.boot}, event_id=self.event_id(event))
                    continue
                if event.seq <= replayed:
                    continue  # replayed above already
                yield _frame("hotline", event.envelope, event_id=self.event_id(event))
        finally:
            self.watchers.discard(watcher)


def _frame(kind: str, data: dict[str, Any], *, event_id: str) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
