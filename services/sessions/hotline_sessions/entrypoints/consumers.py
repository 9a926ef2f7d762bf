"""Kafka entry points: the events this service takes, typed. FastStream builds the service's
AsyncAPI document from these signatures; the bus skips any other event of the topic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from hotline_shared.events import (
    CONTACTS_TOPIC,
    RISK_TOPIC,
    ContactAnswered,
    ContactEnded,
    ContactLegalHoldChanged,
    RiskAssessed,
    RiskEscalated,
)
from hotline_shared.kafka import EventBus
from pydantic import Field

from hotline_sessions import service_layer as svc

CONTACTS_GROUP = "hotline-sessions.contacts"
RISK_GROUP = "hotline-sessions.risk"

SessionContactEvent = Annotated[
    ContactAnswered | ContactEnded | ContactLegalHoldChanged, Field(discriminator="type")
]
SessionRiskEvent = Annotated[RiskAssessed | RiskEscalated, Field(discriminator="type")]


def register(bus: EventBus, sessions: Callable[[], svc.Sessions]) -> None:
    async def on_contact(event: SessionContactEvent) -> None:
        """An answered contact opens a session (one per leg); an ended one starts the
        documentation clock; a legal hold keeps the contact's sessions past retention."""
        await svc.on_contact_event(sessions(), event)

    async def on_risk(event: SessionRiskEvent) -> None:
        """The contact's latest risk level and escalation, so closing can require them."""
        await svc.on_risk_event(sessions(), event)

    bus.subscribe(CONTACTS_TOPIC, group_id=CONTACTS_GROUP, handler=on_contact)
    bus.subscribe(RISK_TOPIC, group_id=RISK_GROUP, handler=on_risk)
