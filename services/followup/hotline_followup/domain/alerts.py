"""Which facts a supervisor must hear about now, not at follow-up time (988 Suicide Safety
Policy: a supervisor is available for consultation at all times; imminent risk is acted on
at once).

- a screening triaged high (imminent risk is not a screener level: it is an escalation);
- an escalation (active rescue started or considered);
- documentation overdue for a contact that ended;
- a user reading caller data faster than the center allows (a burst of PHI reads);
- a counselor breaking the glass on another counselor's contact or session;
- and, as follow-up events, every SLA at-risk, breached and missed, which covers an EMS
  confirmation not recorded within its window (its task breaches);
- a reply to a caring message other than STOP (someone reached out: a worker calls back).
"""

from __future__ import annotations

from hotline_shared.events import (
    BreakGlass,
    Envelope,
    FollowupCaringReply,
    FollowupMissed,
    FollowupSlaAtRisk,
    FollowupSlaBreached,
    PhiReadBurst,
    RiskAssessed,
    RiskEscalated,
    RiskLevel,
    SessionDocumentationOverdue,
)  # fmt: skip

ALERTING_TYPES = frozenset(
    cls.model_fields["type"].default
    for cls in (FollowupSlaAtRisk, FollowupSlaBreached, FollowupMissed, FollowupCaringReply)
)


def alerts_supervisor_now(event: Envelope) -> bool:
    """An incoming fact that raises a supervisor alert when it arrives."""
    if isinstance(event, RiskAssessed):
        return event.data.level is RiskLevel.HIGH
    return isinstance(
        event, RiskEscalated | SessionDocumentationOverdue | PhiReadBurst | BreakGlass
    )
