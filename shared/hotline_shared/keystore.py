"""Per-center data keys kept wrapped in the service's own database."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from hotline_shared.crypto import KeyRing, WrappedKey, new_data_key
from hotline_shared.mongo import Document

COLLECTION = "data_keys"


async def load_keyring(
    db: AsyncDatabase[Document], master_key: bytes, center_ids: Iterable[str]
) -> KeyRing:
    """Load each center's wrapped data key, creating it the first time (race-safe)."""
    ring = KeyRing(master_key)
    keys = db[COLLECTION]
    for center_id in center_ids:
        key_id = f"center:{center_id}"
        doc = await keys.find_one({"_id": key_id})
        if doc is None:
            wrapped = new_data_key(key_id, master_key)
            with contextlib.suppress(DuplicateKeyError):  # another replica was first: use theirs
                await keys.insert_one(
                    {"_id": key_id, "master_key_id": wrapped.master_key_id, "blob": wrapped.blob}
                )
            doc = await keys.find_one({"_id": key_id})
            assert doc is not None
        ring.add(WrappedKey(key_id=key_id, master_key_id=doc["master_key_id"], blob=doc["blob"]))
    return ring
