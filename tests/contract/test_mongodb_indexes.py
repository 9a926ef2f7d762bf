"""Indexes change how fast a query is answered, never what it answers.

Every hot query of the services filters on indexed fields (the storage issue's contract), and
the development database answers them from its indexes (deploy/local/mongo/HotlineMongo.java)
rather than by scanning, and reads the documents a query names by `_id` from the `_id` index
even when the query has other conditions (every conditional write). Here the same documents live in two collections, one with the
services' kinds of index (compound, sparse, on an array field, on a dotted path; some built
before the data, some after) and one without any; every query shape the services use must
give the same documents from both, before and after updates that move index keys and deletes.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from bson import Code
from hotline_shared.mongo import Document
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from tests.factories import T0

pytestmark = pytest.mark.integration

BEFORE_DATA = [
    IndexModel([("shard", ASCENDING), ("fire_at", ASCENDING)]),
    IndexModel([("since", ASCENDING)], sparse=True),
    IndexModel([("center", ASCENDING), ("tokens", ASCENDING)]),
]
AFTER_DATA = [
    IndexModel([("status", ASCENDING), ("n", DESCENDING)]),
    IndexModel([("msgs.pid", ASCENDING)]),
    IndexModel([("msgs.0.pid", ASCENDING)]),  # an array position in the path
]
STATUSES = ["pending", "sent", "failed"]


def make_doc(i: int, rng: random.Random) -> Document:
    doc: Document = {"_id": f"d{i:04}", "shard": rng.randrange(8), "center": f"c{rng.randrange(3)}"}
    if rng.random() < 0.7:
        doc["fire_at"] = T0 + timedelta(seconds=rng.randrange(-600, 600))
    if rng.random() < 0.2:
        doc["fire_at"] = None
    if rng.random() < 0.3:
        doc["since"] = T0 + timedelta(seconds=rng.randrange(-60, 60))
    if rng.random() < 0.1:
        doc["since"] = None
    doc["tokens"] = [f"t{rng.randrange(20)}" for _ in range(rng.randrange(0, 3))]
    doc["status"] = rng.choice(STATUSES)
    doc["n"] = rng.choice([rng.randrange(10), rng.randrange(10) + 0.5])  # ints and doubles
    if rng.random() < 0.5:
        doc["msgs"] = [{"pid": f"p{rng.randrange(30)}"} for _ in range(rng.randrange(1, 3))]
    doc["query"] = f"q{rng.randrange(3)}"  # the legacy find wrapper's name, as a plain field
    if i % 100 == 0:
        doc["center"] = Code("function () {}")  # a value an index cannot order
    return doc


QUERIES: list[Document] = [
    {"shard": 3},
    {"shard": {"$in": [1, 2, 5]}},
    {"shard": {"$in": [0, 7]}, "fire_at": {"$lte": T0}},
    {"shard": {"$in": [0, 7]}, "fire_at": {"$gt": T0 - timedelta(seconds=100), "$lt": T0}},
    {"shard": 4, "fire_at": {"$gte": T0}},
    {"shard": 4, "fire_at": None},
    {"shard": 4, "fire_at": {"$exists": False}},
    {"shard": {"$eq": 6}, "status": "sent"},
    {"fire_at": {"$lte": T0}},  # the index's second field alone: a scan
    {"since": {"$lte": T0}},
    {"since": {"$exists": True}},
    {"since": {"$exists": False}},
    {"since": None},
    {"since": {"$ne": None}},
    {"center": "c1", "tokens": "t3"},
    {"center": "c2", "tokens": {"$in": ["t1", "t2"]}},
    {"center": {"$in": ["c0", "c1"]}},
    {"center": "c0", "tokens": {"$size": 0}},
    {"status": "pending", "n": {"$lte": 4}},
    {"status": "failed", "n": 4},  # 4 matches 4 and 4.0
    {"status": {"$in": ["sent", "failed"]}, "n": {"$gt": 2.5}},
    {"status": {"$ne": "sent"}},
    {"msgs.pid": "p7"},
    {"msgs.pid": {"$in": ["p1", "p2", "p3"]}},
    {"msgs.0.pid": "p7"},
    {"status": "sent", "query": "q1"},
    {"center": "c1", "query": {"$in": ["q0", "q2"]}},
    {"$or": [{"shard": 1}, {"status": "failed"}]},
    {"_id": "d0042", "status": {"$in": STATUSES}},  # a conditional write's shape
    {"_id": {"$eq": "d0043"}, "shard": {"$gte": 0}},
    {"_id": {"$in": [f"d{i:04}" for i in range(0, 600, 7)]}, "since": {"$exists": True}},
    {"_id": {"$in": ["d0001", "d0002", "nope"]}, "shard": {"$lt": 4}},
    {"_id": {"$gte": "d0500"}, "status": "sent"},
    {"shard": 2, "$or": [{"status": "failed"}, {"tokens": "t1"}]},
]


async def _ids(collection: AsyncCollection[Document], query: Document) -> list[Any]:
    return [doc["_id"] async for doc in collection.find(query, {"_id": 1}).sort("_id", 1)]


async def _assert_same_answers(
    indexed: AsyncCollection[Document], plain: AsyncCollection[Document]
) -> int:
    matched = 0
    for query in QUERIES:
        expected = await _ids(plain, query)
        assert await _ids(indexed, query) == expected, query
        assert await indexed.count_documents(query) == len(expected), query
        grouped = [doc async for doc in await indexed.aggregate(
            [{"$match": query}, {"$group": {"_id": "$status", "n": {"$sum": 1}}},
             {"$sort": {"_id": 1}}])]  # fmt: skip
        assert grouped == [doc async for doc in await plain.aggregate(
            [{"$match": query}, {"$group": {"_id": "$status", "n": {"$sum": 1}}},
             {"$sort": {"_id": 1}}])], query  # fmt: skip
        matched += len(expected)
    return matched


async def test_indexed_queries_answer_exactly_what_a_scan_answers(
    db: AsyncDatabase[Document],
) -> None:
    rng = random.Random(15)
    indexed, plain = db["indexed"], db["plain"]
    await indexed.create_indexes(BEFORE_DATA)
    docs = [make_doc(i, rng) for i in range(600)]
    await indexed.insert_many([dict(d) for d in docs])
    await plain.insert_many([dict(d) for d in docs])
    await indexed.create_indexes(AFTER_DATA)  # built from the data already there

    assert await _assert_same_answers(indexed, plain) > 1000  # the queries do match things

    # Updates that move index keys (set, unset, null, array pushes and pulls), then deletes.
    for doc in rng.sample(docs, 300):
        change: Document = {
            "$set": {"shard": rng.randrange(8), "status": rng.choice(STATUSES),
                     "fire_at": rng.choice([None, T0 + timedelta(seconds=rng.randrange(-600, 600))]),
                     "n": rng.randrange(10)},
            "$push": {"tokens": f"t{rng.randrange(20)}"},
        }  # fmt: skip
        if rng.random() < 0.5:
            change["$unset"] = {"since": ""}
        for col in (indexed, plain):
            await col.update_one({"_id": doc["_id"]}, change)
    await indexed.update_many({"status": "failed", "n": {"$lte": 3}}, {"$pull": {"tokens": "t1"}})
    await plain.update_many({"status": "failed", "n": {"$lte": 3}}, {"$pull": {"tokens": "t1"}})
    for query in ({"shard": 5}, {"center": "c2", "tokens": "t4"}, {"since": {"$lte": T0}}):
        removed = await indexed.delete_many(query)
        assert removed.deleted_count == (await plain.delete_many(query)).deleted_count
    assert await indexed.count_documents({}) == await plain.count_documents({}) < 600

    await _assert_same_answers(indexed, plain)
