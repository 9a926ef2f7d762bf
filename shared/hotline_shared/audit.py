"""The audit log: append-only and hash-chained per center, so an edited, deleted or
reordered entry is detected (`hotline audit verify --center C`).

Entry n of a center carries `seq` = n, `prev` = the hash of entry n-1 and `hash` =
HMAC-SHA256(the center's audit key, the entry's canonical form). Appending is lock-free and
correct with any number of replicas: entry ids are `{center}:{seq}` (a unique insert, so two
writers can never both take a place in the chain) and the chain's head moves by a write
conditional on its position; a writer that finds its place taken catches the head up first.
Within one replica, concurrent entries of a center are chained and written as one batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from hotline_shared.mongo import Document, insert_in_order, insert_new, retry_on_conflict

# The request being served (set by the request guard), recorded with every audit entry.
REQUEST_ID: ContextVar[str | None] = ContextVar("hotline_request_id", default=None)
GENESIS = "0" * 64
INDEXES = (IndexModel([("center_id", ASCENDING), ("seq", ASCENDING)]),)
CHAIN_FIELDS = ("center_id", "seq", "prev", "at", "action", "actor", "role", "reason",
                "request_id", "subject")  # fmt: skip


def audit_key(master_key: bytes, center_id: str) -> bytes:
    """The center's chain key, derived from the master key (never stored)."""
    base = hmac.new(master_key, b"hotline-audit-chain-v1", hashlib.sha256).digest()
    return hmac.new(base, center_id.encode(), hashlib.sha256).digest()


def _canonical(entry: Document) -> bytes:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return int(value.astimezone(UTC).timestamp() * 1000)  # BSON keeps milliseconds
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    fields = {name: plain(entry.get(name)) for name in CHAIN_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def entry_hash(key: bytes, entry: Document) -> str:
    return hmac.new(key, _canonical(entry), hashlib.sha256).hexdigest()


def _millis(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


AUDIT_TRIES = 400  # about 20 s of turns at most, before the request answers 503


class AuditLog:
    """One service's audit log (collection `audit`, heads in `audit_heads`).

    Group commit: the entries this process has waiting for one center are chained and
    inserted together (one ordered insert_many, one head move), so concurrent requests of a
    replica queue behind one round trip instead of racing each other for the next place.
    Between replicas the chain stays lock-free as before: a batch whose place was taken
    catches the head up and chains again from there."""

    def __init__(self, db: AsyncDatabase[Document], master_key: bytes) -> None:
        self.entries = db["audit"]
        self.heads = db["audit_heads"]
        self.master_key = master_key
        self._waiting: dict[str, list[tuple[Document, asyncio.Future[None]]]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}

    async def record(self, *, center_id: str, action: str, actor: str, role: str, reason: str,
                     at: datetime, **subject: Any) -> None:  # fmt: skip
        """Append who did what, when and why; `subject` names what was touched (ids, flags).
        Returns once the entry is in the chain (durably written)."""
        body = {"center_id": center_id, "at": _millis(at), "action": action, "actor": actor,
                "role": role, "reason": reason, "request_id": REQUEST_ID.get(),
                "subject": subject}  # fmt: skip
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(center_id, []).append((body, done))
        if center_id not in self._writers:
            self._writers[center_id] = asyncio.create_task(self._write(center_id))
        await done

    async def _write(self, center_id: str) -> None:
        """The center's one writer in this process: appends what waits, batch by batch."""
        try:
            while batch := self._waiting.pop(center_id, []):
                try:
                    await self._append(center_id, [body for body, _ in batch])
                except asyncio.CancelledError:  # the process is stopping: nobody waits forever
                    for _, done in batch:
                        done.cancel()
                    raise
                except Exception as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            del self._writers[center_id]

    async def _append(self, center_id: str, bodies: list[Document]) -> None:
        key = audit_key(self.master_key, center_id)
        pending = list(bodies)

        async def append() -> bool | None:
            head = await self.heads.find_one({"_id": center_id}) or {"seq": 0, "hash": GENESIS}
            chained, prev, seq = [], head["hash"], head["seq"]
            for body in pending:
                seq += 1
                entry = {**body, "seq": seq, "prev": prev}
                entry["hash"] = prev = entry_hash(key, entry)
                chained.append(entry)
            # flattened copies for queries (not part of the chain: the chain hashes `subject`)
            written = await insert_in_order(
                self.entries,
                [{"_id": f"{center_id}:{e['seq']}", **e["subject"], **e} for e in chained],
            )
            if written:
                await self._advance(center_id, head, chained[written - 1])
                del pending[:written]
            if not pending:
                return True
            # our next place was taken by another replica: catch the head up, chain again
            taken = await self.entries.find_one({"_id": f"{center_id}:{seq - len(pending) + 1}"})
            if taken is not None:
                await self._advance(center_id, head, taken)
            return None

        # Every writer of a center appends to one chain; within a replica they share a turn.
        await retry_on_conflict(append, what="audit chain", tries=AUDIT_TRIES)

    async def _advance(self, center_id: str, head: Document, entry: Document) -> None:
        """Move the head forward to `entry`, never back. The chain has no gaps (a place is
        only taken after its predecessor), so any entry past the head is a valid head; a
        writer whose move lost to a smaller one (a replica catching up one entry while this
        batch was inserted) still lands, and nobody catches up entry by entry."""
        first = head["seq"] == 0 and "_id" not in head  # no head yet: make it
        made = first and await insert_new(
            self.heads, {"_id": center_id, "seq": entry["seq"], "hash": entry["hash"]}
        )
        if made:
            return  # (another writer may have made it first: the move below then applies)
        await self.heads.update_one(
            {"_id": center_id, "seq": {"$lt": entry["seq"]}},
            {"$set": {"seq": entry["seq"], "hash": entry["hash"]}},
        )


@dataclass(frozen=True)
class Break:
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.problem}"


async def verify_chain(
    db: AsyncDatabase[Document], master_key: bytes, center_id: str
) -> list[Break]:
    """Walk a center's chain in order: an edited entry fails its hash, a deleted one leaves a
    gap (or a head beyond the end), a reordered one has the wrong predecessor."""
    key = audit_key(master_key, center_id)
    breaks: list[Break] = []
    expected_seq, prev = 1, GENESIS
    cursor = db["audit"].find({"center_id": center_id}).sort("seq", ASCENDING)
    async for entry in cursor:
        seq = entry.get("seq")
        if not isinstance(seq, int):
            breaks.append(Break(-1, f"entry {entry.get('_id')} is outside the chain"))
            continue
        if seq != expected_seq:
            breaks.append(Break(expected_seq, f"missing (next present entry is {seq}): deleted"))
        if entry.get("prev") != prev:
            breaks.append(Break(seq, "does not follow its predecessor: reordered or inserted"))
        subject = entry.get("subject") or {}
        if entry.get("hash") != entry_hash(key, entry) or any(
            entry.get(k) != v for k, v in subject.items()
        ):
            breaks.append(Break(seq, "content does not match its hash: edited"))
        expected_seq, prev = seq + 1, entry.get("hash", "")
    head = await db["audit_heads"].find_one({"_id": center_id})
    if head is not None and head["seq"] >= expected_seq:
        breaks.append(
            Break(expected_seq, f"missing (the chain's head is at {head['seq']}): deleted")
        )
    return breaks
