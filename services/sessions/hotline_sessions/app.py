"""Wiring: settings → clients → routers and subscribers. The one place that knows everything."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from hotline_shared import metrics
from hotline_shared.audit import AuditLog
from hotline_shared.events import RISK_TOPIC, SECURITY_TOPIC, SESSIONS_TOPIC
from hotline_shared.keystore import load_keyring
from hotline_shared.mongo import EventLog, ensure_indexes
from hotline_shared.ratelimit import PhiReadLimit
from hotline_shared.retention import LegalHolds, run_retention
from hotline_shared.service import GAUGE_SECONDS, Periodic, Runtime, create_app, create_runtime

from hotline_sessions import service_layer as svc
from hotline_sessions.adapters.risk_feed import RiskFeed
from hotline_sessions.adapters.store import INDEXES
from hotline_sessions.entrypoints import consumers, routes
from hotline_sessions.entrypoints.consumers import RISK_GROUP
from hotline_sessions.settings import SessionsSettings


def build_app(runtime: Runtime | None = None, settings: SessionsSettings | None = None) -> FastAPI:
    runtime = runtime or create_runtime("sessions")
    settings = settings or SessionsSettings()
    holder: dict[str, svc.Sessions] = {}

    def sessions() -> svc.Sessions:
        return holder["sessions"]

    async def startup(rt: Runtime) -> None:
        await ensure_indexes(rt.db, {**INDEXES, EventLog.CLAIMS: EventLog.INDEXES,
                                     LegalHolds.COLLECTION: LegalHolds.INDEXES})  # fmt: skip
        master = rt.security.master_key_bytes()
        feed = RiskFeed(rt.kafka, topic=RISK_TOPIC, group_id=RISK_GROUP)
        await feed.start()
        holder["sessions"] = svc.Sessions(
            db=rt.db, bus=rt.bus, keyring=await load_keyring(rt.db, master, rt.centers.ids()),
            clock=rt.clock, overdue_window=timedelta(minutes=settings.overdue_minutes),
            signing_key=svc.signing_key(master), risk_feed=feed,
            risk_wait=settings.close_waits_for_risk_seconds, audit_log=AuditLog(rt.db, master),
            phi_reads=PhiReadLimit(rt.db, EventLog(rt.db, rt.bus.publish), service="sessions",
                                   per_window=rt.security.phi_reads_per_window,
                                   window=timedelta(seconds=rt.security.phi_read_window_seconds)),
        )  # fmt: skip

    async def shutdown(_rt: Runtime) -> None:
        if "sessions" in holder:
            await sessions().risk_feed.stop()

    consumers.register(runtime.bus, sessions)

    async def gauges() -> None:
        metrics.SESSIONS_OPEN.set(await sessions().store.open_total())
        await metrics.observe_pending({"sessions": sessions().outbox("sessions").pending,
                                       "emitted_events": sessions().events.pending})  # fmt: skip

    async def relay() -> None:
        await sessions().outbox("sessions").relay()
        await sessions().events.relay()
        await svc.mend_closed(sessions())

    async def retention() -> None:
        await run_retention(runtime.db, svc.RETENTION_RULES, runtime.centers, sessions().audit_log,
                            now=runtime.clock.now(), service="sessions")  # fmt: skip

    return create_app(
        runtime,
        title="hotline sessions",
        routers=[
            routes.build_router(sessions, runtime.verifier),
            routes.build_qa_router(sessions, runtime.verifier),
        ],
        startup=startup,
        shutdown=shutdown,
        periodic=[
            Periodic("outbox-relay", 5.0, relay),
            Periodic("gauges", GAUGE_SECONDS, gauges),
            Periodic("retention", runtime.security.retention_interval_seconds, retention),
            Periodic(
                "documentation-overdue",
                settings.overdue_check_seconds,
                lambda: svc.fire_overdue(sessions()),
            ),
        ],
        produces=(SESSIONS_TOPIC, SECURITY_TOPIC),
    )
