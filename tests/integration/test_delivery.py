"""Delivery rules of DESIGN.md §3 against the real Kafka broker and MongoDB wire database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent
from hotline_cli import dlq
from hotline_shared.events import CONTACTS_TOPIC, CONTENT_TYPE, DLQ_TOPIC, Envelope, parse_event
from hotline_shared.kafka import EventBus
from hotline_shared.mongo import Document, EventLog, Flusher, Outbox, insert_new
from hotline_shared.settings import KafkaSettings
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect

from tests.factories import T0, sample_event
from tests.support import read_topic, unique, wait_until

pytestmark = pytest.mark.integration


def started(n: int, contact: str = "c") -> Envelope:
    return sample_event("hotline.contact.started.v1", id=f"evt-{n}", subject=f"{contact}-{n % 3}")


@pytest.fixture
async def bus(kafka_settings: KafkaSettings) -> AsyncIterator[EventBus]:
    bus = EventBus(kafka_settings, client_id="test-producer")
    await bus.start()
    yield bus
    await bus.stop()


def recording() -> tuple[list[str], Callable[[Envelope], Awaitable[None]]]:
    """A publish that records the ids it was given, and that record."""
    published: list[str] = []

    async def publish(event: Envelope) -> None:
        published.append(event.id)

    return published, publish


async def test_round_trip_through_real_kafka(kafka_settings: KafkaSettings) -> None:
    received: list[Envelope] = []

    async def handler(event: Envelope) -> None:
        received.append(event)

    bus = EventBus(kafka_settings, client_id="test")
    bus.subscribe(CONTACTS_TOPIC, group_id=unique("g-"), handler=handler)
    await bus.start()
    try:
        sent = [started(n) for n in range(10)]
        for event in sent:
            await bus.publish(event)
        await wait_until(lambda: len(received) >= 10, what="10 events consumed")
    finally:
        await bus.stop()
    assert sorted(e.id for e in received) == sorted(e.id for e in sent)
    assert received[0] == next(e for e in sent if e.id == received[0].id)


async def test_events_follow_the_cloudevents_kafka_binding_in_structured_mode(
    bus: EventBus,
) -> None:
    """The CloudEvents SDK reads what we publish: one content-type header, no `ce_` header
    (which would mean binary mode), every attribute and extension in the value."""
    traced = sample_event("hotline.contact.ended.v1", id="ce-1", subject="contact-ce").model_copy(
        update={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    )
    await bus.publish(traced)
    [record] = await read_topic(bus.settings.bootstrap, bus.topic(CONTACTS_TOPIC), expect=1)
    headers = {k: v for k, v in record.headers}
    assert headers["content-type"] == CONTENT_TYPE.encode()
    assert not [k for k in headers if k.lower().startswith("ce_")]
    read = ce_kafka.from_kafka_event(
        ce_kafka.KafkaMessage(headers=headers, key=record.key, value=record.value)
    )
    attributes = read.get_attributes()
    assert attributes["specversion"] == "1.0"
    assert (attributes["id"], attributes["type"]) == ("ce-1", "hotline.contact.ended.v1")
    assert attributes["source"] == traced.source and attributes["subject"] == "contact-ce"
    assert attributes["time"] == traced.time
    assert attributes["partitionkey"] == "contact-ce"  # the record key is the subject
    assert attributes["traceparent"] == traced.traceparent  # distributed-tracing extension
    assert (attributes["centerid"], attributes["correlationid"]) == (
        traced.centerid,
        traced.correlationid,
    )
    assert read.get_data() == json.loads(traced.data.model_dump_json())


async def test_events_are_keyed_by_contact_id(bus: EventBus) -> None:
    event = started(1)
    await bus.publish(event)
    records: list[Any] = await read_topic(
        bus.settings.bootstrap, bus.topic(CONTACTS_TOPIC), expect=1
    )
    assert records[0].key == event.subject.encode()
    assert json.loads(records[0].value)["id"] == event.id


async def test_failing_handler_dead_letters_after_retries_and_partition_moves_on(
    kafka_settings: KafkaSettings,
) -> None:
    attempts: dict[str, int] = {}
    handled: list[str] = []

    async def handler(event: Envelope) -> None:
        attempts[event.id] = attempts.get(event.id, 0) + 1
        if event.id == "poison":
            raise RuntimeError("always fails")
        handled.append(event.id)

    bus = EventBus(kafka_settings.model_copy(update={"retries": 3}), client_id="test")
    bus.subscribe(CONTACTS_TOPIC, group_id=unique("g-"), handler=handler)
    await bus.start()
    try:
        # same key → same partition: the message after the poison one must still be processed
        poison = sample_event("hotline.contact.started.v1", id="poison", subject="same")
        after = sample_event("hotline.contact.started.v1", id="after", subject="same")
        await bus.publish(poison)
        await bus.publish(after)
        await wait_until(lambda: "after" in handled, what="message after poison")
        dead: list[Any] = await read_topic(
            kafka_settings.bootstrap, bus.topic(DLQ_TOPIC), expect=1, settle=0.5
        )
    finally:
        await bus.stop()
    assert attempts["poison"] == 3
    assert len(dead) == 1
    assert dead[0].value == poison.model_dump_json().encode()  # the original bytes
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert headers["hotline-dlq-topic"] == bus.topic(CONTACTS_TOPIC)
    assert "RuntimeError" in headers["hotline-dlq-error"]
    assert headers["content-type"] == CONTENT_TYPE  # the original's headers go along


async def test_an_event_with_an_added_field_and_an_extension_attribute_is_processed(
    kafka_settings: KafkaSettings,
) -> None:
    """Tolerant readers: a newer producer's optional field and a CloudEvents extension
    attribute are ignored, not dead-lettered."""
    handled: list[Envelope] = []

    async def handler(event: Envelope) -> None:
        handled.append(event)

    bus = EventBus(kafka_settings, client_id="test")
    bus.subscribe(CONTACTS_TOPIC, group_id=unique("g-"), handler=handler)
    await bus.start()
    try:
        # made and encoded by the CloudEvents SDK, with an extension attribute of its own
        newer = json.loads(
            sample_event("hotline.contact.started.v1", id="newer", subject="k").model_dump_json()
        )
        data = {**newer.pop("data"), "queue_name": "spanish-line"}  # a newer producer's field
        newer["time"] = datetime.fromisoformat(newer["time"])
        sdk_event = CloudEvent({**newer, "sequence": "7"}, data)
        message = ce_kafka.to_structured_event(sdk_event)
        await bus.broker.publish(
            message.value, topic=bus.topic(CONTACTS_TOPIC), key=b"k",
            headers={k: v.decode() for k, v in message.headers.items()},
        )  # fmt: skip
        await wait_until(
            lambda: [e.id for e in handled] == ["newer"], what="the newer event handled"
        )
        dead = await read_topic(kafka_settings.bootstrap, bus.topic(DLQ_TOPIC), expect=0, settle=0.5,
                                strict=False)  # fmt: skip
    finally:
        await bus.stop()
    assert handled[0] == sample_event("hotline.contact.started.v1", id="newer", subject="k")
    assert dead == []


async def test_unparseable_message_goes_to_the_dlq_without_retries(
    kafka_settings: KafkaSettings,
) -> None:
    handled: list[str] = []

    async def handler(event: Envelope) -> None:
        handled.append(event.id)

    bus = EventBus(kafka_settings, client_id="test")
    bus.subscribe(CONTACTS_TOPIC, group_id=unique("g-"), handler=handler)
    await bus.start()
    try:
        await bus.broker.publish(b'{"type": "hotline.contact.started.v1", "id": 5}',
                                 topic=bus.topic(CONTACTS_TOPIC), key=b"k")  # fmt: skip
        await bus.publish(sample_event("hotline.contact.started.v1", id="good", subject="k"))
        await wait_until(lambda: "good" in handled, what="good message")
        dead: list[Any] = await read_topic(kafka_settings.bootstrap, bus.topic(DLQ_TOPIC), expect=1)
    finally:
        await bus.stop()
    assert "ValidationError" in dict(dead[0].headers)["hotline-dlq-error"].decode()
    assert handled == ["good"]


async def test_a_unique_insert_ignores_a_duplicate_delivered_concurrently_by_two_consumers(
    kafka_settings: KafkaSettings, db: AsyncDatabase[Document]
) -> None:
    effects: list[str] = []

    async def handler(event: Envelope) -> None:
        if await insert_new(db["seen"], {"_id": event.id}):
            effects.append(event.id)

    # Two consumer groups both receive every event: each event is a concurrent duplicate.
    buses = [EventBus(kafka_settings, client_id=f"c{i}") for i in range(2)]
    for bus in buses:
        bus.subscribe(CONTACTS_TOPIC, group_id=unique("g-"), handler=handler)
    for bus in buses:
        await bus.start()
    try:
        for n in range(50):
            await buses[0].publish(started(n))
        await wait_until(lambda: _count(db["seen"], 50), what="50 records", timeout=30)
        # wait until both consumers processed everything (the second delivery of each)
        await wait_until(lambda: _all_consumed(buses), what="both groups consumed", timeout=30)
    finally:
        for bus in buses:
            await bus.stop()
    assert sorted(effects) == sorted(f"evt-{n}" for n in range(50))


async def test_outbox_relay_publishes_what_a_crash_left_behind(
    kafka_settings: KafkaSettings, db: AsyncDatabase[Document], bus: EventBus
) -> None:
    col = db["contacts"]
    await col.create_indexes([Outbox.INDEX])
    events = [started(1), started(2)]
    # "write" happened, then the process died before "publish":
    await col.insert_one({"_id": "c-1", "state": "started", "outbox": []})
    await col.update_one({"_id": "c-1"}, Outbox.update({"$set": {"state": "queued"}}, events, T0))

    outbox = Outbox(col, bus.publish)
    assert await outbox.relay(older_than=timedelta(0)) == 2

    records: list[Any] = await read_topic(
        kafka_settings.bootstrap, bus.topic(CONTACTS_TOPIC), expect=2, settle=0.3
    )
    assert sorted(parse_event(r.value).id for r in records) == ["evt-1", "evt-2"]
    doc = await col.find_one({"_id": "c-1"})
    assert doc is not None and doc["outbox"] == [] and doc["state"] == "queued"
    assert Outbox.SINCE not in doc
    assert await outbox.relay(older_than=timedelta(0)) == 0  # nothing left to publish


async def test_a_batch_flush_publishes_each_documents_events_in_order_once(
    db: AsyncDatabase[Document],
) -> None:
    published, publish = recording()
    col = db["batch_outbox"]
    await col.insert_many([{"_id": f"t-{n}", **Outbox.fields([started(10 * n), started(10 * n + 1)], T0)}
                           for n in range(3)] + [{"_id": "t-none", "outbox": []}])  # fmt: skip
    outbox = Outbox(col, publish)
    assert await outbox.flush_many(["t-0", "t-1", "t-2", "t-none", "t-missing"]) == 6
    assert sorted(published) == sorted(f"evt-{k}" for k in (0, 1, 10, 11, 20, 21))
    for n in range(3):  # each document's events in their order
        assert published.index(f"evt-{10 * n}") < published.index(f"evt-{10 * n + 1}")
    assert await col.count_documents({Outbox.SINCE: {"$exists": True}}) == 0
    assert await outbox.flush_many(["t-0", "t-1"]) == 0  # nothing left: nothing again


async def test_a_flush_prepares_all_its_events_at_once_before_publishing_any(
    db: AsyncDatabase[Document],
) -> None:
    """`prepare` (the alerts' bulk write) sees a batch's events together before the first
    is published; if it fails, nothing is published and the outbox keeps everything."""
    seen: list[str] = []
    prepared: list[list[str]] = []
    failing = True

    async def publish(event: Envelope) -> None:
        seen.append(f"publish {event.id}")

    async def prepare(events: Sequence[Envelope]) -> None:
        if failing:
            raise AutoReconnect("database gone")
        prepared.append([e.id for e in events])
        seen.append("prepare")

    col = db["prepared_outbox"]
    await col.insert_many([{"_id": f"t-{n}", **Outbox.fields([started(10 * n), started(10 * n + 1)], T0)}
                           for n in range(3)] + [{"_id": "t-none", "outbox": []}])  # fmt: skip
    outbox = Outbox(col, publish, prepare=prepare)
    with pytest.raises(AutoReconnect):
        await outbox.flush_many(["t-0", "t-1", "t-2"])
    assert seen == [] and await col.count_documents({Outbox.SINCE: {"$exists": True}}) == 3
    failing = False
    assert await outbox.flush_many(["t-0", "t-1", "t-2", "t-none"]) == 6
    assert len(prepared) == 1 and sorted(prepared[0]) == sorted(
        f"evt-{k}" for k in (0, 1, 10, 11, 20, 21))  # fmt: skip
    assert seen[0] == "prepare" and len(seen) == 7
    # A document marked pending with nothing left in it: cleared, nothing prepared.
    await col.update_one({"_id": "t-none"}, {"$set": {Outbox.SINCE: T0}})
    assert await outbox.relay(older_than=timedelta(0)) == 0
    assert len(prepared) == 1 and await col.count_documents({Outbox.SINCE: {"$exists": True}}) == 0


async def test_flushes_after_the_answer_run_one_at_a_time_per_document_and_drain(
    db: AsyncDatabase[Document],
) -> None:
    published: list[str] = []
    gate = asyncio.Event()

    async def publish(event: Envelope) -> None:
        await gate.wait()  # Kafka is slow: every flush is still running when the next starts
        published.append(event.id)

    col = db["later_outbox"]
    outbox = Outbox(col, publish)
    flusher = Flusher()
    ticket = flusher.ticket()
    await col.insert_one({"_id": "c-1", **Outbox.fields([started(1)], T0)})
    first = await col.find_one({"_id": "c-1"})
    flusher.flush_later(outbox, "c-1", first, since=ticket)
    ticket = flusher.ticket()  # no flush has finished: the snapshot alone would send evt-1 again
    await col.update_one({"_id": "c-1"}, Outbox.update({"$set": {"s": 2}}, [started(2)], T0))
    second = await col.find_one({"_id": "c-1"})
    flusher.flush_later(outbox, "c-1", second, since=ticket)  # queued: reads what the first left
    flusher.flush_later(outbox, "c-missing")
    gate.set()
    await flusher.drain()
    assert published == ["evt-1", "evt-2"]
    doc = await col.find_one({"_id": "c-1"})
    assert doc is not None and doc["outbox"] == [] and Outbox.SINCE not in doc


async def test_a_snapshot_taken_before_an_earlier_flush_finished_is_read_again(
    db: AsyncDatabase[Document],
) -> None:
    """The second write lands before the first flush removes evt-1; that flush finishes
    before the second is asked for. The second's snapshot still shows evt-1: it goes out once."""
    published, publish = recording()
    col = db["later_stale"]
    outbox = Outbox(col, publish)
    flusher = Flusher()
    first_ticket = flusher.ticket()
    await col.insert_one({"_id": "c-1", **Outbox.fields([started(1)], T0)})
    first = await col.find_one({"_id": "c-1"})
    second_ticket = flusher.ticket()
    second = await col.find_one_and_update(
        {"_id": "c-1"}, Outbox.update({"$set": {"s": 2}}, [started(2)], T0),
        return_document=ReturnDocument.AFTER,
    )  # fmt: skip
    assert second is not None and len(second["outbox"]) == 2
    flusher.flush_later(outbox, "c-1", first, since=first_ticket)
    await flusher.drain()  # the first flush is done before the second write's answer is used
    flusher.flush_later(outbox, "c-1", second, since=second_ticket)
    await flusher.drain()
    assert published == ["evt-1", "evt-2"]
    doc = await col.find_one({"_id": "c-1"})
    assert doc is not None and doc["outbox"] == [] and Outbox.SINCE not in doc


async def test_a_snapshot_of_only_its_own_events_sent_meanwhile_by_a_retry_is_read_again(
    db: AsyncDatabase[Document],
) -> None:
    """A provider's retry finds the contact written, changes nothing, and flushes it (reading
    it) before the first delivery's flush is asked for: evt-1 goes out once."""
    published, publish = recording()
    col = db["later_retried"]
    outbox = Outbox(col, publish)
    flusher = Flusher()
    ticket = flusher.ticket()
    await col.insert_one({"_id": "c-1", **Outbox.fields([started(1)], T0)})
    written = await col.find_one({"_id": "c-1"})
    flusher.flush_later(outbox, "c-1")  # the retry's flush
    await flusher.drain()
    flusher.flush_later(outbox, "c-1", written, since=ticket)
    await flusher.drain()
    assert published == ["evt-1"]
    flusher.flush_later(outbox, "c-1", written)  # without a ticket, a snapshot is not trusted
    await flusher.drain()
    assert published == ["evt-1"]


async def test_a_failed_flush_after_the_answer_leaves_its_events_to_the_relay(
    db: AsyncDatabase[Document],
) -> None:
    async def kafka_down(_event: Envelope) -> None:
        raise KafkaConnectionError("down")

    col = db["later_failed"]
    await col.insert_one({"_id": "c-1", **Outbox.fields([started(1)], T0)})
    flusher = Flusher()
    flusher.flush_later(Outbox(col, kafka_down), "c-1")
    await flusher.drain()  # the failure is logged, not raised
    published, publish = recording()
    assert await Outbox(col, publish).relay(older_than=timedelta(0)) == 1
    assert published == ["evt-1"]


async def test_relays_find_one_unpublished_event_behind_thousands_published(
    db: AsyncDatabase[Document],
) -> None:
    """The pending marker is the relays' only query: published records cannot hide one."""
    published, publish = recording()
    log = EventLog(db, publish)
    await db[EventLog.CLAIMS].create_indexes(list(EventLog.INDEXES))
    await log.emit(started(6))  # emitted and published: its pending marker is gone
    assert published == ["evt-6"]
    published.clear()
    await db[EventLog.CLAIMS].insert_many(
        [{"_id": f"done-{n}", "json": "{}", "at": T0} for n in range(2500)]
    )
    await db[EventLog.CLAIMS].insert_one({"_id": "lost", "json": started(7).model_dump_json(),
                                          "pending_since": T0 - timedelta(days=30)})  # fmt: skip
    contacts = db["contacts"]
    await contacts.create_indexes([Outbox.INDEX])
    await contacts.insert_many([{"_id": f"c-{n}", "outbox": []} for n in range(2500)])
    await contacts.insert_one(
        {"_id": "c-lost", **Outbox.fields([started(8)], T0 - timedelta(days=30))}
    )

    assert await log.relay(older_than=timedelta(0)) == 1
    assert await Outbox(contacts, publish).relay(older_than=timedelta(0)) == 1
    assert published == ["evt-7", "evt-8"]
    assert await log.relay(older_than=timedelta(0)) == 0


async def _count(collection: Any, n: int) -> bool:
    return bool(await collection.count_documents({}) >= n)


async def _all_consumed(buses: list[EventBus]) -> bool:
    # Every group committed up to the end of every partition.
    for bus in buses:
        for sub in bus.broker.subscribers:
            consumer = getattr(sub, "consumer", None)
            if consumer is None:
                return False
            partitions = consumer.assignment()
            if not partitions:
                return False
            ends = await consumer.end_offsets(list(partitions))
            for tp in partitions:
                if await consumer.committed(tp) != ends[tp]:
                    return False
    return True


async def test_an_unreachable_database_is_waited_out_never_dead_lettered(
    kafka_settings: KafkaSettings,
) -> None:
    outage = {"left": 7}  # more failures than `retries`: a poison message would be dead by now
    handled: list[str] = []

    async def handler(event: Envelope) -> None:
        if outage["left"] > 0:
            outage["left"] -= 1
            raise AutoReconnect("connection refused")
        handled.append(event.id)

    settings = kafka_settings.model_copy(update={"retries": 3})
    bus = EventBus(settings, client_id="test")
    bus.subscribe(CONTACTS_TOPIC, group_id=unique("g-"), handler=handler)
    await bus.start()
    try:
        await bus.publish(started(1))
        await wait_until(lambda: handled == ["evt-1"], what="handled once the database is back")
        dead = await read_topic(settings.bootstrap, bus.topic(DLQ_TOPIC), expect=0, settle=0.5,
                                strict=False)  # fmt: skip
    finally:
        await bus.stop()
    assert dead == [] and outage["left"] == 0


async def test_dead_letters_are_listed_and_replayed_to_their_topic(
    kafka_settings: KafkaSettings,
) -> None:
    fixed = {"yet": False}
    handled: list[str] = []

    async def handler(event: Envelope) -> None:
        if not fixed["yet"]:
            raise ValueError("a bug, fixed later")
        handled.append(event.id)

    settings = kafka_settings.model_copy(update={"retries": 2})
    bus = EventBus(settings, client_id="test")
    bus.subscribe(CONTACTS_TOPIC, group_id=unique("g-"), handler=handler)
    await bus.start()
    try:
        await bus.publish(started(1))
        letters = await wait_until(lambda: dlq.read(settings), what="a dead letter", timeout=30)
        assert [(d.event_id, d.topic) for d in letters] == [("evt-1", bus.topic(CONTACTS_TOPIC))]
        assert "ValueError" in letters[0].error
        fixed["yet"] = True
        assert await dlq.replay(settings, letters) == 1
        await wait_until(lambda: handled == ["evt-1"], what="the replayed event handled")
    finally:
        await bus.stop()
