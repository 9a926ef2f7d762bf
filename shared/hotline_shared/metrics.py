"""hotline's domain metrics (Prometheus). Every service exports all of them from /metrics;
each one counts what it does itself.

Labels are bounded vocabularies only (an outcome, a channel, a risk level, a consumer group,
a topic): never an id, never PHI. Counters of domain facts count events as they are
published; a relay after a crash may publish an event twice (delivery is at least once),
so over a crash they can over-count by the events in flight. Gauges of stored state (open
sessions, follow-up tasks, pending outbox entries) are the database's count, the same on
every replica: aggregate them with max(), not sum().

HTTP metrics per route and status come from prometheus-fastapi-instrumentator
(`http_requests_total`, `http_request_duration_seconds`, …), Kafka metrics per topic and
handler from FastStream's Prometheus middleware (`hotline_kafka_*`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from hotline_shared import events as ev

CONTACTS = Counter(
    "hotline_contacts_total",
    "Contacts by how they ended (answered, unanswered, abandoned, short-abandoned, failed) "
    "and channel",
    ["outcome", "channel"],
)
SCREENINGS = Counter(
    "hotline_screenings_total", "Risk assessments (C-SSRS screens) by final risk level", ["level"]
)
OVERRIDES = Counter(
    "hotline_risk_overrides_total", "Risk assessments a counselor raised above the screen"
)
ESCALATIONS = Counter(
    "hotline_escalations_total", "Imminent-risk escalations by reason", ["reason"]
)
DOCUMENTATION_OVERDUE = Counter(
    "hotline_documentation_overdue_total", "Sessions whose documentation became overdue"
)
SESSIONS_CLOSED = Counter(
    "hotline_sessions_closed_total", "Sessions closed, by documented risk level", ["risk_level"]
)
FOLLOWUPS = Counter(
    "hotline_followup_transitions_total",
    "Follow-up task transitions (scheduled, due, attempted, completed, missed, sla-at-risk, "
    "sla-breached) by kind",
    ["kind", "transition"],
)
ALERTS = Counter(
    "hotline_alerts_total", "Supervisor alert deliveries by result (sent, failed, dropped)",
    ["result"],
)  # fmt: skip
DEAD_LETTERS = Counter(
    "hotline_dead_letters_total", "Events sent to the dead-letter topic, by consumer group",
    ["consumer"],
)  # fmt: skip
CONSUMER_LAG = Gauge(
    "hotline_consumer_lag_messages",
    "Records behind the partition's end, as of the last record a consumer group handled "
    "there (a consumer that stopped handling keeps its last value)",
    ["consumer", "topic", "partition"],
)
OUTBOX_PENDING = Gauge(
    "hotline_outbox_pending_events",
    "Documents with events not yet published (outbox, emit-once log), by store",
    ["store"],
)
SESSIONS_OPEN = Gauge("hotline_sessions_open", "Sessions open (documentation in progress)")
FOLLOWUP_TASKS = Gauge(
    "hotline_followup_tasks_open", "Open follow-up tasks by kind and SLA state",
    ["kind", "sla_state"],
)  # fmt: skip
TIMER_LATENESS = Histogram(
    "hotline_followup_timer_lateness_seconds",
    "How long after its due time a follow-up timer fired",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)

_FOLLOWUP_TRANSITIONS = {
    ev.FollowupScheduled: "scheduled",
    ev.FollowupDue: "due",
    ev.FollowupAttempted: "attempted",
    ev.FollowupCompleted: "completed",
    ev.FollowupMissed: "missed",
    ev.FollowupSlaAtRisk: "sla-at-risk",
    ev.FollowupSlaBreached: "sla-breached",
}


def contact_outcome(event: ev.Envelope) -> str | None:
    """How a contact ended, from its final event (None for any other event)."""
    match event:
        case ev.ContactEnded():
            return "answered" if event.data.answered_at is not None else "unanswered"
        case ev.ContactAbandoned():
            return "short-abandoned" if event.data.short else "abandoned"
        case ev.ContactFailed():
            return "failed"
    return None


def count_published(event: ev.Envelope) -> None:
    """Count the domain fact an event records (called once per publish)."""
    data: Any = event.data
    outcome = contact_outcome(event)
    if outcome is not None:
        CONTACTS.labels(outcome=outcome, channel=str(data.channel)).inc()
    match event:
        case ev.RiskAssessed():
            SCREENINGS.labels(level=str(data.level)).inc()
            if data.override is not None:
                OVERRIDES.inc()
        case ev.RiskEscalated():
            ESCALATIONS.labels(reason=str(data.reason)).inc()
        case ev.SessionDocumentationOverdue():
            DOCUMENTATION_OVERDUE.inc()
        case ev.SessionClosed():
            SESSIONS_CLOSED.labels(risk_level=str(data.risk_level)).inc()
    transition = _FOLLOWUP_TRANSITIONS.get(type(event))
    if transition is not None:
        FOLLOWUPS.labels(kind=str(data.kind), transition=transition).inc()


async def observe_pending(stores: Mapping[str, Callable[[], Awaitable[int]]]) -> None:
    """Set the pending-events gauge of each store (an outbox's or the emit-once log's
    `pending`), by store name."""
    for name, pending in stores.items():
        OUTBOX_PENDING.labels(store=name).set(await pending())
