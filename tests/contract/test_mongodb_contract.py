"""What hotline needs from MongoDB, as tests against whatever HOTLINE_MONGODB_URI names.

This is the document that says what a production MongoDB (or a stand-in) must provide: the
services' correctness with several replicas rests on exactly these behaviours and no others
(no transactions, change streams or TTL indexes).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from hotline_shared.mongo import Document, insert_all_new, insert_in_order, insert_new, sum_metrics
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from tests.factories import T0

pytestmark = pytest.mark.integration
WRITERS = 50


async def test_a_conditional_update_on_a_version_is_won_by_exactly_one_of_50_writers(
    db: AsyncDatabase[Document],
) -> None:
    col = db["versioned"]
    for run in range(5):
        await col.insert_one({"_id": run, "version": 0})
        results = await asyncio.gather(*(
            col.find_one_and_update({"_id": run, "version": 0},
                                    {"$set": {"by": w}, "$inc": {"version": 1}})
            for w in range(WRITERS)
        ))  # fmt: skip
        assert sum(r is not None for r in results) == 1
        doc = await col.find_one({"_id": run})
        assert doc is not None and doc["version"] == 1


async def test_update_one_reports_whether_its_condition_matched(
    db: AsyncDatabase[Document],
) -> None:
    col = db["versioned"]
    await col.insert_one({"_id": "a", "version": 3})
    results = await asyncio.gather(
        *(
            col.update_one({"_id": "a", "version": 3}, {"$inc": {"version": 1}})
            for _ in range(WRITERS)
        )
    )
    assert [r.modified_count for r in results].count(1) == 1
    assert (await col.find_one({"_id": "a"}) or {})["version"] == 4


async def test_50_concurrent_increments_all_count(db: AsyncDatabase[Document]) -> None:
    col = db["counters"]
    await col.insert_one({"_id": "n", "n": 0})
    await asyncio.gather(
        *(col.update_one({"_id": "n"}, {"$inc": {"n": 1}}) for _ in range(WRITERS))
    )
    assert (await col.find_one({"_id": "n"}) or {})["n"] == WRITERS


async def test_a_unique_insert_is_won_by_exactly_one_of_50_writers(
    db: AsyncDatabase[Document],
) -> None:
    results = await asyncio.gather(
        *(insert_new(db["claims"], {"_id": "evt-1", "by": w}) for w in range(WRITERS))
    )
    assert results.count(True) == 1
    assert await db["claims"].count_documents({}) == 1


async def test_an_ordered_insert_many_stops_at_the_first_taken_id(
    db: AsyncDatabase[Document],
) -> None:
    """The audit chain's group commit: a batch keeps its prefix and says how long it was."""
    chain = db["chain"]
    await chain.insert_one({"_id": "c:3", "by": "another replica"})
    docs = [{"_id": f"c:{n}", "n": n} for n in range(1, 6)]
    assert await insert_in_order(chain, docs) == 2
    assert [d["_id"] async for d in chain.find({}).sort("_id", ASCENDING)] == ["c:1", "c:2", "c:3"]
    assert (await chain.find_one({"_id": "c:3"}) or {})["by"] == "another replica"
    assert await insert_in_order(chain, [{"_id": "c:4"}, {"_id": "c:5"}]) == 2


async def test_an_unordered_insert_many_keeps_every_new_id_and_skips_taken_ones(
    db: AsyncDatabase[Document],
) -> None:
    """The alert queue's bulk write: ids taken before (or twice in the batch) are skipped,
    every other document is written, whatever its place."""
    alerts = db["bulk_alerts"]
    await alerts.insert_one({"_id": "a:2", "by": "another replica"})
    docs = [{"_id": f"a:{n}", "n": n} for n in (1, 2, 3, 3, 4)]
    assert await insert_all_new(alerts, docs) == 3
    assert [d["_id"] async for d in alerts.find({}).sort("_id", ASCENDING)] == [
        "a:1", "a:2", "a:3", "a:4"]  # fmt: skip
    assert (await alerts.find_one({"_id": "a:2"}) or {})["by"] == "another replica"
    assert await insert_all_new(alerts, docs) == 0
    assert await insert_all_new(alerts, []) == 0


async def test_concurrent_ordered_batches_never_both_take_a_place(
    db: AsyncDatabase[Document],
) -> None:
    chain = db["chain"]
    batches = [[{"_id": f"c:{n}", "writer": w} for n in range(1, 11)] for w in range(8)]
    written = await asyncio.gather(*(insert_in_order(chain, b) for b in batches))
    stored = [d async for d in chain.find({})]
    assert sorted(written) == [0] * 7 + [10]  # whoever took c:1 took the run; the rest none
    assert {d["writer"] for d in stored} == {written.index(10)}


async def test_workers_claiming_due_tasks_never_claim_one_twice(
    db: AsyncDatabase[Document],
) -> None:
    col = db["tasks"]
    await col.insert_many(
        [{"_id": f"t{n}", "due": T0 + timedelta(seconds=n), "owner": None} for n in range(80)]
    )
    claimed: list[tuple[int, str]] = []

    async def worker(w: int) -> None:
        while True:
            doc = await col.find_one_and_update(
                {"owner": None}, {"$set": {"owner": w}}, sort=[("due", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )  # fmt: skip
            if doc is None:
                return
            claimed.append((w, doc["_id"]))

    await asyncio.gather(*(worker(w) for w in range(16)))
    ids = [task for _, task in claimed]
    assert len(ids) == len(set(ids)) == 80


async def test_find_one_and_update_with_sort_and_upsert(db: AsyncDatabase[Document]) -> None:
    col = db["queue"]
    await col.insert_many([{"_id": n, "k": "a", "p": n} for n in (3, 1, 2)])
    first = await col.find_one_and_update(
        {"k": "a"}, {"$set": {"taken": True}}, sort=[("p", DESCENDING)],
        return_document=ReturnDocument.AFTER,
    )  # fmt: skip
    assert first is not None and first["_id"] == 3 and first["taken"]
    made = await col.find_one_and_update(
        {"_id": "new"}, {"$setOnInsert": {"p": 0}, "$set": {"k": "b"}}, upsert=True,
        return_document=ReturnDocument.AFTER,
    )  # fmt: skip
    assert made == {"_id": "new", "p": 0, "k": "b"}


async def test_bulk_upserts(db: AsyncDatabase[Document]) -> None:
    col = db["bulk"]
    ops = [UpdateOne({"_id": n % 10}, {"$inc": {"n": 1}}, upsert=True) for n in range(30)]
    result = await col.bulk_write(ops, ordered=False)
    assert result.upserted_count == 10 and result.modified_count == 20
    assert {d["n"] async for d in col.find({})} == {3}


async def test_conditional_bulk_updates_count_only_the_matched_versions(
    db: AsyncDatabase[Document],
) -> None:
    col = db["bulk_versions"]
    await col.insert_many([{"_id": n, "version": 1, "outbox": ["e"]} for n in range(5)])
    await col.update_one({"_id": 2}, {"$inc": {"version": 1}})  # someone else wrote first
    ops = [UpdateOne({"_id": n, "version": 1}, {"$set": {"fired": True}, "$inc": {"version": 1}})
           for n in range(5)]  # fmt: skip
    result = await col.bulk_write(ops, ordered=False)
    assert result.matched_count == 4 and result.modified_count == 4
    assert {d["_id"] async for d in col.find({"fired": True})} == {0, 1, 3, 4}
    # an array equality condition (the outbox emptied only if unchanged)
    emptied = await col.bulk_write(
        [UpdateOne({"_id": n, "outbox": ["e"]}, {"$set": {"outbox": []}}) for n in (0, 1)],
        ordered=False,
    )
    assert emptied.modified_count == 2


async def test_the_update_operators_the_stores_use(db: AsyncDatabase[Document]) -> None:
    col = db["ops"]
    await col.insert_one({"_id": 1, "outbox": ["a", "b"], "since": T0, "version": 1})
    # $min keeps the oldest pending marker; $push $each appends
    await col.update_one({"_id": 1}, {"$min": {"since": T0 + timedelta(seconds=5)},
                                      "$push": {"outbox": {"$each": ["c"]}}})  # fmt: skip
    doc = await col.find_one({"_id": 1})
    assert doc is not None and doc["since"] == T0 and doc["outbox"] == ["a", "b", "c"]
    # an exact array match is a condition; $unset removes a field
    missed = await col.update_one({"_id": 1, "outbox": ["a", "b"]}, {"$set": {"outbox": []}})
    assert missed.modified_count == 0
    hit = await col.update_one({"_id": 1, "outbox": ["a", "b", "c"]},
                               {"$set": {"outbox": []}, "$unset": {"since": ""}})  # fmt: skip
    assert hit.modified_count == 1
    doc = await col.find_one({"_id": 1})
    assert doc == {"_id": 1, "outbox": [], "version": 1}
    # $pull with a condition removes only the matching entries
    await col.update_one({"_id": 1}, {"$set": {"outbox": ["a", "b", "c", "d"]}})
    await col.update_one({"_id": 1}, {"$pull": {"outbox": {"$in": ["b", "d"]}}})
    assert (await col.find_one({"_id": 1}) or {})["outbox"] == ["a", "c"]
    # a dotted path under a condition (the autosave's decisive write)
    await col.update_one({"_id": 1}, {"$set": {"versions": {"notes": 0}}})
    ok = await col.update_one({"_id": 1, "versions.notes": 0},
                              {"$set": {"versions.notes": 1, "heads.notes": {"version": 1}}})  # fmt: skip
    stale = await col.update_one({"_id": 1, "versions.notes": 0}, {"$set": {"versions.notes": 9}})
    assert ok.modified_count == 1 and stale.modified_count == 0


async def test_queries_by_marker_date_and_null(db: AsyncDatabase[Document]) -> None:
    col = db["marked"]
    await col.insert_many([{"_id": 1, "since": T0}, {"_id": 2}, {"_id": 3, "since": T0 + timedelta(hours=1)},
                           {"_id": 4, "lease": None}, {"_id": 5, "lease": T0}])  # fmt: skip
    due = [
        d["_id"]
        async for d in col.find({"since": {"$lte": T0 + timedelta(hours=2)}}).sort(
            "since", ASCENDING
        )
    ]
    assert due == [1, 3]
    free = {d["_id"] async for d in col.find({"$or": [{"lease": None}, {"lease": {"$lte": T0}}]})}
    assert free == {1, 2, 3, 4, 5}  # a missing field matches null
    assert {d["_id"] async for d in col.find({"since": {"$exists": True}})} == {1, 3}
    doc = await col.find_one({"_id": 1})
    assert doc is not None and doc["since"] == T0 and doc["since"].tzinfo is not None


async def test_the_aggregations_the_services_use(db: AsyncDatabase[Document]) -> None:
    col = db["facts"]
    await col.insert_many([
        {"c": "x", "s": "on-track", "metrics": [{"m": "offered", "v": 1}, {"m": "wait_s", "v": 10.0}]},
        {"c": "x", "s": "breached", "metrics": [{"m": "offered", "v": 1}, {"m": "wait_s", "v": 20.0}]},
        {"c": "x", "s": "breached", "metrics": [{"m": "offered", "v": 1}]},
        {"c": "y", "s": "breached", "metrics": [{"m": "offered", "v": 1}]},
    ])  # fmt: skip
    assert await sum_metrics(col, {"c": "x"}) == {"offered": 3, "wait_s": 30.0}
    by_state = {d["_id"]: d["n"] async for d in await col.aggregate(
        [{"$match": {"c": "x"}}, {"$group": {"_id": "$s", "n": {"$sum": 1}}}])}  # fmt: skip
    assert by_state == {"on-track": 1, "breached": 2}
    several = [d async for d in await col.aggregate([
        {"$unwind": "$metrics"}, {"$match": {"metrics.m": "wait_s"}},
        {"$group": {"_id": None, "n": {"$sum": 1}, "total": {"$sum": "$metrics.v"},
                    "top": {"$max": "$metrics.v"}}},
    ])]  # fmt: skip
    assert several == [{"_id": None, "n": 2, "total": 30.0, "top": 20.0}]
    assert await col.count_documents({"c": "x", "s": "breached"}) == 2
    page = [d["s"] async for d in col.find({"c": "x"}).sort([("s", ASCENDING)]).skip(1).limit(1)]
    assert page == ["breached"]
