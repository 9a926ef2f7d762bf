"""Kafka entry points: the events this service takes, typed. FastStream builds the service's
AsyncAPI document from these signatures."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiokafka import ConsumerRebalanceListener
from hotline_shared.events import (
    CONTACTS_TOPIC,
    RISK_TOPIC,
    SECURITY_TOPIC,
    SESSIONS_TOPIC,
    ContactEvent,
    RiskEvent,
    SecurityEvent,
    SessionEvent,
)
from hotline_shared.kafka import EventBus

from hotline_followup import service_layer as svc


def register(bus: EventBus, followup: Callable[[], svc.Followup], *, group_id: str,
             listeners: Mapping[str, ConsumerRebalanceListener] | None = None) -> None:  # fmt: skip
    async def on_contact(event: ContactEvent) -> None:
        """Abandoned contacts get a callback; an answered caller's open callbacks are
        cancelled; a recorded number starts the callback that waited for it."""
        await svc.on_event(followup(), event)

    async def on_risk(event: RiskEvent) -> None:
        """High risk and escalations alert the supervisor; EMS confirmation tasks."""
        await svc.on_event(followup(), event)

    async def on_session(event: SessionEvent) -> None:
        """A closed session schedules its follow-ups and caring contacts by risk and
        consent; overdue documentation alerts the supervisor."""
        await svc.on_event(followup(), event)

    async def on_security(event: SecurityEvent) -> None:
        """Break-glass reads and PHI-read bursts alert the supervisor."""
        await svc.on_event(followup(), event)

    for topic, handler in ((CONTACTS_TOPIC, on_contact), (RISK_TOPIC, on_risk),
                           (SESSIONS_TOPIC, on_session), (SECURITY_TOPIC, on_security)):  # fmt: skip
        bus.subscribe(topic, group_id=f"{group_id}.{topic}", handler=handler,
                      listener=(listeners or {}).get(topic))  # fmt: skip
