"""ContactStore and RecordStore (intake) against the real database."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from hotline_intake.adapters.contacts import INDEXES, Caller, ContactStore
from hotline_intake.adapters.records import RecordStore
from hotline_intake.domain.contact import Milestone, Observation, new_contact, observe
from hotline_shared.events import Provider
from hotline_shared.mongo import Document, Outbox, ensure_indexes
from pymongo.asynchronous.database import AsyncDatabase

from tests.factories import T0, sample_event

pytestmark = pytest.mark.integration
SETTLE = timedelta(seconds=120)
NOBODY = Caller(token=None, number_ciphertext=None, reachable=False)


@pytest.fixture
async def store(db: AsyncDatabase[Document]) -> ContactStore:
    await ensure_indexes(db, {"contacts": INDEXES})
    return ContactStore(db["contacts"])


def seen(milestone: Milestone, seconds: int) -> Observation:
    at = T0 + timedelta(seconds=seconds)
    return Observation(provider=Provider.ASTERISK, provider_contact_id="call-1", key=f"{milestone}",
                       occurred_at=at, times={milestone: at})  # fmt: skip


async def written(
    store: ContactStore, obs: Observation, version: int | None
) -> dict[str, Any] | None:
    stored = await store.get("ct-1")
    state = stored.state if stored else new_contact("ct-1", obs)
    new_state, emit = observe(state, obs, now=T0, settle_after=SETTLE)
    events = [sample_event("hotline.contact.queued.v1", id=f"e-{m}") for m in emit]
    return await store.save(new_state, center_id="center-01", expected_version=version,
                            caller=NOBODY, events=events, now=T0, settle_after=SETTLE)  # fmt: skip


async def save(store: ContactStore, obs: Observation, version: int | None) -> bool:
    return await written(store, obs, version) is not None


async def test_a_save_answers_with_every_pending_event_in_order(store: ContactStore) -> None:
    """What the writer publishes without reading the document again: its own events and any
    a crash left before them, oldest first."""
    first = await written(store, seen(Milestone.QUEUED, 0), None)
    assert first is not None
    assert [json.loads(e)["id"] for e in first[Outbox.FIELD]] == ["e-started", "e-queued"]
    second = await written(store, seen(Milestone.ANSWERED, 5), 1)  # the first not flushed
    assert second is not None and second["_id"] == "ct-1"
    assert [json.loads(e)["id"] for e in second[Outbox.FIELD]] == [
        "e-started",
        "e-queued",
        "e-answered",
    ]
    assert second[Outbox.SINCE] == T0


async def test_a_contact_is_created_once(store: ContactStore) -> None:
    created = await asyncio.gather(
        *(save(store, seen(Milestone.QUEUED, 0), None) for _ in range(10))
    )
    assert created.count(True) == 1
    stored = await store.get("ct-1")
    assert stored is not None and stored.version == 1 and Milestone.QUEUED in stored.state.times


async def test_a_save_from_a_stale_read_is_refused_and_events_stay_pending(
    store: ContactStore,
) -> None:
    assert await save(store, seen(Milestone.QUEUED, 0), None)
    assert await save(store, seen(Milestone.ANSWERED, 5), 1)
    assert not await save(store, seen(Milestone.ENDED, 9), 1)  # read at version 1: stale
    raw = await store.collection.find_one({"_id": "ct-1"})
    assert raw is not None and raw["version"] == 2 and raw[Outbox.SINCE] == T0
    assert "ended" not in raw["times"]


async def test_risk_is_set_only_on_the_version_read(store: ContactStore) -> None:
    assert await save(store, seen(Milestone.QUEUED, 0), None)
    stored = await store.get("ct-1")
    assert stored is not None
    assert await store.set_risk(stored, {"level": "high", "assessed_at": T0})
    assert not await store.set_risk(stored, {"level": "none", "assessed_at": T0})
    again = await store.get("ct-1")
    assert again is not None and again.doc["risk"]["level"] == "high"


async def test_unsettled_contacts_are_found_by_their_due_time(store: ContactStore) -> None:
    assert await save(store, seen(Milestone.QUEUED, 0), None)
    assert await save(store, seen(Milestone.ENDED, 30), 1)  # an end without its outcome waits
    assert await store.unsettled(T0) == []
    assert await store.unsettled(T0 + SETTLE) == ["ct-1"]


async def test_a_record_is_inserted_once_and_updated_from_a_fresh_read_only(
    db: AsyncDatabase[Document],
) -> None:
    records = RecordStore(db["escalations"])
    event = sample_event("hotline.risk.escalated.v1", id="esc-1")
    first = await records.insert({"_id": "e-1", "ems": None}, event, now=T0)
    again = await records.insert({"_id": "e-1", "ems": "other"}, event, now=T0)
    assert first["ems"] is None and again["ems"] is None
    read = await records.get("e-1")
    assert read is not None
    confirmed = sample_event("hotline.risk.ems-confirmed.v1", id="ems-1")
    assert await records.update(read, {"ems": {"reached": True}}, [confirmed], now=T0)
    assert not await records.update(read, {"ems": {"reached": False}}, [confirmed], now=T0)
    found = await records.get("e-1")
    assert found is not None and found["ems"] == {"reached": True}
