"""Retention: expired records are deleted per the center's policy (clinical 7 years,
operational 90 days by default), a contact under legal hold is kept everywhere, a record's
parts go with it, and every run that deleted something is audited. A fake clock moves time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hotline_followup.service_layer import RETENTION_RULES as FOLLOWUP_RULES
from hotline_intake.service_layer import RETENTION_RULES as INTAKE_RULES
from hotline_sessions.service_layer import RETENTION_RULES as SESSIONS_RULES
from hotline_shared.audit import AuditLog, verify_chain
from hotline_shared.centers import Centers, Retention, load_centers
from hotline_shared.clock import FakeClock
from hotline_shared.ids import contact_id_for
from hotline_shared.mongo import Document, make_client
from hotline_shared.retention import LegalHolds, cutoff, run_retention
from hotline_shared.settings import DEV_CENTERS_FILE, MongoSettings, SecuritySettings
from pymongo.asynchronous.database import AsyncDatabase

from tests.conftest import token_for
from tests.integration.intake.test_telephony import post_twilio
from tests.support import ServiceProcess, isolated_env, running, unique, wait_until
from tests.unit.intake import sequences as seq

MASTER = SecuritySettings().master_key_bytes()
NOW = datetime(2034, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)


def centers() -> Centers:
    """The development centers; center-02 keeps clinical records 30 days only."""
    dev = list(load_centers(DEV_CENTERS_FILE))
    short = Retention(clinical_days=30, operational_days=7)
    return Centers([dev[0], dev[1].model_copy(update={"retention": short})])


def test_cutoffs_follow_the_centers_periods() -> None:
    default = Retention()
    assert NOW - cutoff(default, "clinical", NOW) == timedelta(days=2557)  # 7 years
    assert NOW - cutoff(default, "operational", NOW) == timedelta(days=90)
    with pytest.raises(ValueError):
        Retention(clinical_days=0)


async def seed(db: AsyncDatabase[Document], collection: str, **doc: Any) -> str:
    doc.setdefault("_id", unique(f"{collection}-"))
    await db[collection].insert_one(doc)
    return str(doc["_id"])


@pytest.mark.integration
async def test_intake_records_expire_per_center_except_a_held_contact(
    db: AsyncDatabase[Document],
) -> None:
    old, recent = NOW - 8 * YEAR, NOW - YEAR
    expired = await seed(db, "contacts", center_id="center-01", created_at=old)
    held = await seed(db, "contacts", center_id="center-01", created_at=old)
    kept = await seed(db, "contacts", center_id="center-01", created_at=recent)
    short_lived = await seed(
        db, "contacts", center_id="center-02", created_at=NOW - timedelta(days=31)
    )
    screening = await seed(
        db, "screenings", center_id="center-01", contact_id=expired, created_at=old
    )
    held_screening = await seed(
        db, "screenings", center_id="center-01", contact_id=held, created_at=old
    )
    claim = await seed(db, "emitted_events", at=NOW - timedelta(days=91))
    fresh_claim = await seed(db, "emitted_events", at=NOW - timedelta(days=10))
    await LegalHolds(db).change(contact_id=held, center_id="center-01", held=True, at=old)
    clock = FakeClock(NOW)

    deleted = await run_retention(db, INTAKE_RULES, centers(), AuditLog(db, MASTER), now=clock.now(),
                                  service="intake")  # fmt: skip

    remaining = {d["_id"] async for d in db["contacts"].find({})}
    assert remaining == {held, kept}  # center-02's 31-day-old contact is past its 30 days
    assert short_lived not in remaining
    assert {d["_id"] async for d in db["screenings"].find({})} == {held_screening}
    assert screening not in {d["_id"] async for d in db["screenings"].find({})}
    assert {d["_id"] async for d in db["emitted_events"].find({})} == {fresh_claim}
    assert claim != fresh_claim
    assert deleted["center-01"] == {"contacts": 1, "screenings": 1}
    assert deleted["center-02"] == {"contacts": 1}
    audit = [e async for e in db["audit"].find({"action": "retention.purge"})]
    assert {(e["center_id"], e["actor"]) for e in audit} == {
        ("center-01", "service:intake"),
        ("center-02", "service:intake"),
    }
    assert await verify_chain(db, MASTER, "center-01") == []

    again = await run_retention(db, INTAKE_RULES, centers(), AuditLog(db, MASTER), now=clock.now(),
                                service="intake")  # fmt: skip
    assert again == {}  # nothing left to delete: nothing audited
    await LegalHolds(db).change(contact_id=held, center_id="center-01", held=False, at=NOW)
    await run_retention(
        db, INTAKE_RULES, centers(), AuditLog(db, MASTER), now=clock.now(), service="intake"
    )
    assert {d["_id"] async for d in db["contacts"].find({})} == {kept}  # hold lifted: expired


@pytest.mark.integration
async def test_a_session_goes_with_its_note_versions_and_follow_ups_expire(
    db: AsyncDatabase[Document],
) -> None:
    old = NOW - 8 * YEAR
    session = await seed(db, "sessions", center_id="center-01", contact_id="c-old", opened_at=old)
    young = await seed(db, "sessions", center_id="center-01", contact_id="c-new", opened_at=NOW)
    for version in (1, 2):
        await seed(db, "versions", session_id=session, kind="notes", version=version)
    await seed(db, "versions", session_id=young, kind="notes", version=1)
    await run_retention(
        db, SESSIONS_RULES, centers(), AuditLog(db, MASTER), now=NOW, service="sessions"
    )
    assert {d["_id"] async for d in db["sessions"].find({})} == {young}
    assert {d["session_id"] async for d in db["versions"].find({})} == {young}  # no orphans

    task = await seed(db, "tasks", center_id="center-01", contact_id="c-old", created_at=old)
    series = await seed(
        db, "caring_series", center_id="center-01", contact_id="c-old", created_at=old
    )
    alert = await seed(db, "alerts", center_id="center-01", next_try_at=NOW - timedelta(days=100))
    await run_retention(
        db, FOLLOWUP_RULES, centers(), AuditLog(db, MASTER), now=NOW, service="followup"
    )
    for collection, gone in (("tasks", task), ("caring_series", series), ("alerts", alert)):
        assert await db[collection].find_one({"_id": gone}) is None, collection


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[tuple[dict[str, ServiceProcess], str]]:
    env = isolated_env()
    async with running("intake", "sessions", "followup", env=env, log_dir=tmp_path) as services:
        yield services, env["HOTLINE_MONGODB_DATABASE_PREFIX"]


@pytest.mark.integration
@pytest.mark.slow
async def test_a_legal_hold_reaches_every_service_and_is_audited(
    system: tuple[dict[str, ServiceProcess], str],
) -> None:
    services, prefix = system
    sid = unique("CA")
    contact = contact_id_for("center-01", "twilio", sid)
    supervisor = {
        "Authorization": f"Bearer {token_for('supervisor', ['center-01'], 'supervisor-9')}"
    }
    counselor = {"Authorization": f"Bearer {token_for('counselor', ['center-01'])}"}
    async with httpx.AsyncClient(base_url=services["intake"].url, timeout=10) as client:
        for form in seq.twilio_answered(sid):
            assert (await post_twilio(client, form)).status_code == 200
        url = f"/v1/contacts/{contact}/legal-hold"
        held = await client.put(
            url, json={"held": True, "reason": "case 2026-CV-1182"}, headers=supervisor
        )
        refused = await client.put(url, json={"held": True, "reason": "mine"}, headers=counselor)
        no_reason = await client.put(url, json={"held": True}, headers=supervisor)
    assert held.status_code == 204 and refused.status_code == 403 and no_reason.status_code == 422
    client = make_client(MongoSettings(database_prefix=prefix))
    try:
        for service in ("intake", "sessions", "followup"):
            holds = client[f"{prefix}hotline_{service}"][LegalHolds.COLLECTION]

            async def recorded(holds: Any = holds) -> bool:
                doc = await holds.find_one({"_id": contact})
                return bool(doc and doc["held"])

            await wait_until(recorded, timeout=60, what=f"the hold in {service}")
        audit = client[f"{prefix}hotline_intake"]["audit"]
        entry = await audit.find_one({"contact_id": contact, "action": "legal-hold.set"})
        assert entry is not None and entry["actor"] == "supervisor-9"
        assert entry["reason"] == "case 2026-CV-1182"
    finally:
        await client.close()


@pytest.mark.integration
async def test_dead_letters_are_kept_for_the_operational_period() -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    from hotline_shared.events import DLQ_TOPIC
    from hotline_shared.kafka import ensure_topics
    from hotline_shared.settings import KafkaSettings

    settings = KafkaSettings(topic_prefix=unique("t") + ".")
    await ensure_topics(settings)
    admin = AIOKafkaAdminClient(**settings.client_options())
    await admin.start()
    try:
        [described] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, f"{settings.topic_prefix}{DLQ_TOPIC}")]
        )
    finally:
        await admin.close()
    configs = {name: value for name, value, *_ in described.resources[0][4]}
    assert configs["retention.ms"] == str(90 * 24 * 3600 * 1000)
