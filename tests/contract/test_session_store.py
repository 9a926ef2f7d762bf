"""SessionStore and ContactFacts (sessions) against the real database."""

from __future__ import annotations

import asyncio

import pytest
from hotline_sessions.adapters.store import INDEXES, ContactFacts, SessionStore
from hotline_shared.mongo import Document, ensure_indexes
from pymongo.asynchronous.database import AsyncDatabase

from tests.factories import T0, sample_event

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(db: AsyncDatabase[Document]) -> SessionStore:
    await ensure_indexes(db, INDEXES)
    s = SessionStore(db)
    doc = {"_id": "s-1", "contact_id": "c-1", "center_id": "center-01", "leg": 1, "status": "open",
           "versions": {"notes": 0, "safety-plan": 0}, "heads": {}, "addenda": [], "close": None}  # fmt: skip
    assert await s.open(doc, sample_event("hotline.session.opened.v1", id="o-1"), now=T0)
    assert not await s.open(doc, sample_event("hotline.session.opened.v1", id="o-1"), now=T0)
    return s


def head(version: int) -> Document:
    return {"version": version, "ciphertext": f"ct-{version}", "author": "c7", "at": T0}


async def test_exactly_one_autosave_of_a_version_is_accepted(store: SessionStore) -> None:
    accepted = await asyncio.gather(
        *(store.accept_version("s-1", "notes", base=0, head=head(1)) for _ in range(20))
    )
    assert accepted.count(True) == 1
    doc = await store.get("s-1")
    assert doc is not None and doc["versions"]["notes"] == 1 and doc["version"] == 2


async def test_an_autosave_after_the_close_is_refused(store: SessionStore) -> None:
    read = await store.get("s-1")
    assert read is not None
    assert await store.close(read, {"disposition": "resolved"}, now=T0)
    assert not await store.accept_version("s-1", "notes", base=0, head=head(1))
    pending = await store.closes_pending(before=T0)
    assert [d["_id"] for d in pending] == ["s-1"]
    await store.close_emitted("s-1")
    assert await store.closes_pending(before=T0) == []


async def test_a_close_based_on_a_stale_read_is_refused(store: SessionStore) -> None:
    read = await store.get("s-1")
    assert read is not None
    assert await store.accept_version("s-1", "notes", base=0, head=head(1))  # lands first
    assert not await store.close(read, {"disposition": "resolved"}, now=T0)


async def test_history_holds_every_accepted_version_and_the_head(store: SessionStore) -> None:
    for v in (1, 2, 3):
        assert await store.accept_version("s-1", "notes", base=v - 1, head=head(v))
        if v != 3:  # a crash skipped keeping version 3: the head stands in for it
            await store.keep_version("s-1", "notes", head(v))
    doc = await store.get("s-1")
    assert doc is not None
    assert [h["version"] for h in await store.history(doc, "notes")] == [1, 2, 3]


async def test_an_addendum_from_a_stale_read_is_refused(store: SessionStore) -> None:
    read = await store.get("s-1")
    assert read is not None
    assert await store.add_addendum(read, {"text_sha256": "a"})
    assert not await store.add_addendum(read, {"text_sha256": "b"})


async def test_contact_facts_are_written_from_a_fresh_read_only(
    db: AsyncDatabase[Document],
) -> None:
    facts = ContactFacts(db)
    results = await asyncio.gather(
        *(facts.write(None, "c-1", {"risk_level": "high"}) for _ in range(10))
    )
    assert results.count(True) == 1
    current = await facts.get("c-1")
    assert await facts.write(current, "c-1", {"escalated": True})
    assert not await facts.write(current, "c-1", {"risk_level": "low"})  # stale
    found = await facts.get("c-1")
    assert found is not None and found["risk_level"] == "high" and found["escalated"]
