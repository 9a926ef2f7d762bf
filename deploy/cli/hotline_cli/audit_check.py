"""`hotline audit verify`: each service's audit chain for a center, checked end to end."""

from __future__ import annotations

from hotline_shared.audit import Break, verify_chain
from hotline_shared.mongo import database, make_client
from hotline_shared.settings import MongoSettings, SecuritySettings

AUDITED = ("intake", "sessions", "followup")  # the services that keep an audit log


async def verify_center(center_id: str) -> dict[str, tuple[int, list[Break]]]:
    mongo = MongoSettings()
    master = SecuritySettings().master_key_bytes()
    client = make_client(mongo)
    try:
        results = {}
        for service in AUDITED:
            db = database(client, mongo, f"hotline_{service}")
            entries = await db["audit"].count_documents({"center_id": center_id})
            results[service] = (entries, await verify_chain(db, master, center_id))
        return results
    finally:
        await client.close()
