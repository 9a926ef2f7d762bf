"""Tamper-evident audit: a hash chain per center that concurrent replicas extend without
locks, and `hotline audit verify` catching an edit, a deletion or a reordering made directly
in the database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hotline_shared.audit import AuditLog, verify_chain
from hotline_shared.mongo import Document, make_client
from hotline_shared.settings import MongoSettings, SecuritySettings
from pymongo.asynchronous.database import AsyncDatabase

from tests.conftest import token_for
from tests.integration.intake.test_counselor_api import answered_contact
from tests.support import isolated_env, running

pytestmark = pytest.mark.integration

MASTER = SecuritySettings().master_key_bytes()


async def chain_of(
    db: AsyncDatabase[Document], n: int, center: str = "center-01"
) -> list[Document]:
    replicas = [AuditLog(db, MASTER), AuditLog(db, MASTER)]  # two services writing at once
    await asyncio.gather(*(
        replicas[i % 2].record(center_id=center, action="caller-number.read", actor=f"user-{i}",
                               role="counselor", reason="callback", at=datetime.now(UTC),
                               contact_id=f"contact-{i}")
        for i in range(n)
    ))  # fmt: skip
    return [e async for e in db["audit"].find({"center_id": center}).sort("seq", 1)]


async def test_concurrent_writers_make_one_unbroken_chain(db: AsyncDatabase[Document]) -> None:
    entries = await chain_of(db, 40)
    assert [e["seq"] for e in entries] == list(range(1, 41))
    assert sorted(e["actor"] for e in entries) == sorted(f"user-{i}" for i in range(40))
    assert await verify_chain(db, MASTER, "center-01") == []
    other = await chain_of(db, 3, center="center-02")  # each center its own chain
    assert [e["seq"] for e in other] == [1, 2, 3]
    assert await verify_chain(db, MASTER, "center-02") == []


async def test_an_edit_is_caught_and_named(db: AsyncDatabase[Document]) -> None:
    await chain_of(db, 5)
    await db["audit"].update_one({"_id": "center-01:3"}, {"$set": {"reason": "emergency-rescue"}})
    breaks = await verify_chain(db, MASTER, "center-01")
    assert [(b.seq, "edited" in b.problem) for b in breaks] == [(3, True)]


async def test_an_edit_of_a_flattened_copy_is_caught(db: AsyncDatabase[Document]) -> None:
    await chain_of(db, 3)
    await db["audit"].update_one({"_id": "center-01:2"}, {"$set": {"contact_id": "someone-else"}})
    assert [b.seq for b in await verify_chain(db, MASTER, "center-01")] == [2]


async def test_a_deletion_in_the_middle_or_at_the_end_is_caught(
    db: AsyncDatabase[Document],
) -> None:
    await chain_of(db, 6)
    await db["audit"].delete_one({"_id": "center-01:4"})
    breaks = await verify_chain(db, MASTER, "center-01")
    assert breaks and breaks[0].seq == 4 and "deleted" in breaks[0].problem
    await db["audit"].delete_one({"_id": "center-01:6"})
    assert any(
        b.seq == 6 and "deleted" in b.problem for b in await verify_chain(db, MASTER, "center-01")
    )


async def test_a_reordering_is_caught(db: AsyncDatabase[Document]) -> None:
    await chain_of(db, 4)
    two = await db["audit"].find_one({"_id": "center-01:2"})
    three = await db["audit"].find_one({"_id": "center-01:3"})
    assert two is not None and three is not None
    await db["audit"].update_one({"_id": "center-01:2"}, {"$set": {"seq": 3}})
    await db["audit"].update_one({"_id": "center-01:3"}, {"$set": {"seq": 2}})
    breaks = await verify_chain(db, MASTER, "center-01")
    assert {b.seq for b in breaks} >= {2, 3}


@pytest.mark.slow
async def test_hotline_audit_verify_catches_an_edit_made_directly_in_the_database(
    tmp_path: Path,
) -> None:
    env = isolated_env()
    prefix = env["HOTLINE_MONGODB_DATABASE_PREFIX"].rstrip("_")
    async with (
        running("intake", env=env, log_dir=tmp_path) as started,
        httpx.AsyncClient(base_url=started["intake"].url, timeout=10) as client,
    ):
        contact = await answered_contact(client)
        headers = {"Authorization": f"Bearer {token_for('counselor', ['center-01'])}"}
        for _ in range(3):  # three audited releases of the caller's number
            released = await client.get(f"/v1/contacts/{contact}/caller",
                                            params={"reason": "callback"}, headers=headers)  # fmt: skip
            assert released.status_code == 200

    def verify() -> subprocess.CompletedProcess[str]:
        hotline = Path(sys.executable).parent / "hotline"
        return subprocess.run([str(hotline), "audit", "verify", "--center", "center-01"], text=True,
                              capture_output=True, env={**os.environ, **env}, timeout=120, check=False)  # fmt: skip

    intact = verify()
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "intake: 4 entries, chain intact" in intact.stdout  # the take and three releases
    client = make_client(MongoSettings(database_prefix=f"{prefix}_"))
    try:
        audit = client[f"{prefix}_hotline_intake"]["audit"]
        await audit.update_one({"_id": "center-01:2"}, {"$set": {"actor": "nobody"}})
    finally:
        await client.close()
    tampered = verify()
    assert tampered.returncode == 1
    assert "intake: entry 2: content does not match its hash: edited" in tampered.stdout


async def test_every_audit_entry_carries_the_request_id_and_the_response_echoes_it(
    tmp_path: Path,
) -> None:
    env = isolated_env()
    prefix = env["HOTLINE_MONGODB_DATABASE_PREFIX"].rstrip("_")
    headers = {"Authorization": f"Bearer {token_for('counselor', ['center-01'])}"}
    async with (
        running("intake", env=env, log_dir=tmp_path) as started,
        httpx.AsyncClient(base_url=started["intake"].url, timeout=10) as client,
    ):
        contact = await answered_contact(client)
        given = await client.get(
            f"/v1/contacts/{contact}", headers={**headers, "X-Request-ID": "req-42"}
        )
        minted = await client.get(f"/v1/contacts/{contact}", headers=headers)
        junk = await client.get(
            f"/v1/contacts/{contact}",
            headers={**headers, "X-Request-ID": "a b;<c>"},  # legal HTTP, not an id
        )
    assert given.headers["x-request-id"] == "req-42"
    assert len(minted.headers["x-request-id"]) == 32 and junk.headers["x-request-id"] != "a b;<c>"
    client = make_client(MongoSettings(database_prefix=f"{prefix}_"))
    try:
        db = client[f"{prefix}_hotline_intake"]
        entries = [e async for e in db["audit"].find({"contact_id": contact}).sort("seq", 1)]
        assert [e["request_id"] for e in entries] == [  # the take, then three reads
            "req-42",
            "req-42",
            minted.headers["x-request-id"],
            junk.headers["x-request-id"],
        ]
        assert await verify_chain(db, MASTER, "center-01") == []  # the request id is chained
    finally:
        await client.close()
