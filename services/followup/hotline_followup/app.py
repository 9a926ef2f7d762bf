"""Wiring: settings → clients → routers and subscribers. The one place that knows everything."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from hotline_shared import audit, metrics
from hotline_shared.audit import AuditLog
from hotline_shared.events import CONTACTS_TOPIC, FOLLOWUPS_TOPIC, SECURITY_TOPIC, FollowupKind
from hotline_shared.keystore import load_keyring
from hotline_shared.mongo import ensure_indexes
from hotline_shared.retention import LegalHolds, run_retention
from hotline_shared.service import GAUGE_SECONDS, Periodic, Runtime, create_app, create_runtime

from hotline_followup import caring
from hotline_followup import service_layer as svc
from hotline_followup.adapters import alerts, tasks
from hotline_followup.adapters import caring as series
from hotline_followup.adapters.messaging import IntakeDirectory, SmtpMail, SmtpRelay, TwilioMessages
from hotline_followup.domain.hours import CallingHours
from hotline_followup.domain.policy import DEMO_TIME_SCALE, Policy, load_policy
from hotline_followup.domain.task import Sla
from hotline_followup.entrypoints import consumers, routes
from hotline_followup.settings import FollowupSettings
from hotline_followup.timers import Ownership, Timers


def policies_for(runtime: Runtime, settings: FollowupSettings) -> tuple[Policy, dict[str, Policy]]:
    """Each center's policy; a center whose policy does not parse stops the start-up."""
    base = Policy(time_scale=DEMO_TIME_SCALE) if settings.policy_profile == "demo" else Policy()
    return base, {c.id: load_policy(c.id, c.policy, base=base) for c in runtime.centers}


def build_app(runtime: Runtime | None = None, settings: FollowupSettings | None = None) -> FastAPI:
    runtime = runtime or create_runtime("followup")
    settings = settings or FollowupSettings()
    default, policies = policies_for(runtime, settings)  # refuse to start on a bad policy
    hours = {c.id: CallingHours.parse(c.timezone, c.calling_hours) for c in runtime.centers}
    holder: dict[str, svc.Followup] = {}
    http = httpx.AsyncClient(timeout=5)

    def followup() -> svc.Followup:
        return holder["followup"]

    async def startup(rt: Runtime) -> None:
        await ensure_indexes(rt.db, {tasks.COLLECTION: tasks.INDEXES,
                                     alerts.COLLECTION: alerts.INDEXES,
                                     series.COLLECTION: series.INDEXES,
                                     LegalHolds.COLLECTION: LegalHolds.INDEXES,
                                     "audit": audit.INDEXES})  # fmt: skip
        messenger = caring.Messenger(
            sms=TwilioMessages(http, settings.twilio_api_url),
            mail=SmtpMail(SmtpRelay(host=settings.smtp_host, port=settings.smtp_port,
                                    starttls=settings.smtp_starttls, username=settings.smtp_username,
                                    password=settings.smtp_password)),
            directory=IntakeDirectory(http, settings.intake_url, jwt_secret=rt.security.jwt_secret,
                                      service_token=settings.service_token),
            public_url=settings.public_url,
        )  # fmt: skip
        store = tasks.TaskStore(rt.db[tasks.COLLECTION])
        await store.backfill_shards()
        holder["followup"] = svc.Followup(
            db=rt.db, bus=rt.bus, clock=rt.clock, policies=policies, default_policy=default,
            alerts=alerts.AlertQueue(rt.db[alerts.COLLECTION], rt.centers),
            timers=Timers(load=store.due_soon, fire=lambda due: svc.fire_timers(followup(), due),
                          clock=rt.clock, horizon=timedelta(seconds=settings.timer_horizon_seconds),
                          batch=settings.timer_batch),
            keyring=await load_keyring(rt.db, rt.security.master_key_bytes(), rt.centers.ids()),
            hours=hours, claim_ttl=timedelta(minutes=settings.claim_minutes),
            caring=caring.Caring(db=rt.db, publish=rt.bus.publish,
                                 prepare=lambda events: followup().queue_alerts(events),
                                 clock=rt.clock, centers=rt.centers, messenger=messenger),
            audit=AuditLog(rt.db, rt.security.master_key_bytes()),
        )  # fmt: skip

    # The contacts topic's partitions in the follow-up group decide whose timers are whose.
    ownership = Ownership(lambda: followup().timers, runtime.bus.partition_count)
    consumers.register(runtime.bus, followup, group_id=settings.group_id,
                       listeners={CONTACTS_TOPIC: ownership})  # fmt: skip

    async def gauges() -> None:
        open_tasks = await followup().tasks.open_by_kind_and_sla()
        for kind in FollowupKind:
            for sla in Sla:
                count = open_tasks.get((str(kind), str(sla)), 0)
                metrics.FOLLOWUP_TASKS.labels(kind=str(kind), sla_state=str(sla)).set(count)
        await metrics.observe_pending({"tasks": followup().outbox.pending,
                                       "caring": followup().caring.outbox.pending})  # fmt: skip

    async def send_alerts() -> None:
        await followup().alerts.send_due(http, now=followup().clock.now())
        await followup().alerts.escalate_unacknowledged(
            http, now=followup().clock.now(), after=timedelta(seconds=settings.oncall_after_seconds)
        )

    async def retention() -> None:
        await run_retention(runtime.db, svc.RETENTION_RULES, runtime.centers, followup().audit,
                            now=runtime.clock.now(), service="followup")  # fmt: skip

    return create_app(
        runtime,
        title="hotline followup",
        routers=[
            routes.build_router(followup, runtime.verifier),
            routes.messaging_router(lambda: followup().caring, settings.public_url),
        ],
        startup=startup,
        periodic=[
            Periodic(
                "timers", settings.timer_interval_seconds, lambda: followup().timers.fire_due()
            ),
            Periodic(
                "timer-refill",
                settings.timer_horizon_seconds / 2,
                lambda: followup().timers.refill(),
            ),
            Periodic("outbox-relay", 5.0, lambda: followup().outbox.relay()),
            Periodic("gauges", GAUGE_SECONDS, gauges),
            Periodic("caring-outbox-relay", 5.0, lambda: followup().caring.outbox.relay()),
            Periodic(
                "caring-messages",
                settings.caring_interval_seconds,
                lambda: caring.send_due(followup().caring),
            ),
            Periodic("alerts", settings.alert_interval_seconds, send_alerts),
            Periodic("retention", runtime.security.retention_interval_seconds, retention),
        ],
        produces=(FOLLOWUPS_TOPIC, SECURITY_TOPIC),
    )
