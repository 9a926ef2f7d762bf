"""Wiring: settings → clients → routers and subscribers. The one place that knows everything."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from hotline_shared import metrics
from hotline_shared.audit import AuditLog
from hotline_shared.events import CONTACTS_TOPIC, RISK_TOPIC, SECURITY_TOPIC
from hotline_shared.keystore import load_keyring
from hotline_shared.mongo import EventLog, ensure_indexes
from hotline_shared.ratelimit import PhiReadLimit
from hotline_shared.retention import LegalHolds, run_retention
from hotline_shared.service import GAUGE_SECONDS, Periodic, Runtime, create_app, create_runtime

from hotline_intake import service_layer as svc
from hotline_intake.adapters import contacts, records
from hotline_intake.entrypoints import contacts as contact_routes
from hotline_intake.entrypoints import webhooks
from hotline_intake.service_layer import Intake, settle_due
from hotline_intake.settings import IntakeSettings

OUTBOX_COLLECTIONS = ("contacts", "screenings", "escalations")  # the records with outboxes


def build_app(runtime: Runtime | None = None, settings: IntakeSettings | None = None) -> FastAPI:
    runtime = runtime or create_runtime("intake")
    settings = settings or IntakeSettings()
    holder: dict[str, Intake] = {}

    def intake() -> Intake:
        return holder["intake"]

    async def startup(rt: Runtime) -> None:
        await ensure_indexes(rt.db, {contacts.COLLECTION: contacts.INDEXES, **records.INDEXES,
                                     EventLog.CLAIMS: EventLog.INDEXES,
                                     LegalHolds.COLLECTION: LegalHolds.INDEXES})  # fmt: skip
        keyring = await load_keyring(rt.db, rt.security.master_key_bytes(), rt.centers.ids())
        holder["intake"] = Intake(
            db=rt.db, bus=rt.bus, centers=rt.centers, keyring=keyring, clock=rt.clock,
            settle_after=timedelta(seconds=settings.settle_seconds),
            service_level_seconds=settings.service_level_seconds,
            audit=AuditLog(rt.db, rt.security.master_key_bytes()),
            phi_reads=PhiReadLimit(rt.db, EventLog(rt.db, rt.bus.publish), service="intake",
                                   per_window=rt.security.phi_reads_per_window,
                                   window=timedelta(seconds=rt.security.phi_read_window_seconds)),
        )  # fmt: skip

    async def gauges() -> None:
        await metrics.observe_pending(
            {**{name: intake().outbox(name).pending for name in OUTBOX_COLLECTIONS},
             "emitted_events": intake().events.pending}
        )  # fmt: skip

    async def relay() -> None:
        for name in OUTBOX_COLLECTIONS:
            await intake().outbox(name).relay()
        await intake().events.relay()

    async def retention() -> None:
        await run_retention(runtime.db, svc.RETENTION_RULES, runtime.centers, intake().audit,
                            now=runtime.clock.now(), service="intake")  # fmt: skip

    return create_app(
        runtime,
        title="hotline intake",
        routers=[
            webhooks.build_router(intake, settings.public_url),
            contact_routes.build_router(intake, runtime.verifier),
        ],
        startup=startup,
        shutdown=lambda _rt: intake().flusher.drain(),
        periodic=[
            Periodic("outbox-relay", 5.0, relay),
            Periodic("gauges", GAUGE_SECONDS, gauges),
            Periodic("settle-contacts", 5.0, lambda: settle_due(intake())),
            Periodic("retention", runtime.security.retention_interval_seconds, retention),
        ],
        produces=(CONTACTS_TOPIC, RISK_TOPIC, SECURITY_TOPIC),
    )
