"""Valid sample events of every v1 type, for contract tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hotline_shared.events import EVENT_TYPES, Envelope

T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
CONTACT_ID = "8d7f5a0e-3a59-5b1e-9c1b-2f1e6d9b7a11"

_CONTACT = {
    "contact_id": CONTACT_ID,
    "provider": "twilio",
    "provider_contact_id": "CA1234567890ABCDE",
    "channel": "voice",
    "occurred_at": T0.isoformat(),
    "caller_token": "ab" * 32,
    "caller_reachable": True,
}
_FOLLOWUP = {"contact_id": CONTACT_ID, "followup_id": "f-1", "kind": "callback"}

SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "hotline.contact.started.v1": _CONTACT,
    "hotline.contact.queued.v1": {**_CONTACT, "queue_id": "q1"},
    "hotline.contact.answered.v1": {**_CONTACT, "queued_at": T0.isoformat(), "leg": 1},
    "hotline.contact.transferred.v1": {**_CONTACT, "to_center_id": "center-02", "leg": 1},
    "hotline.contact.ended.v1": {**_CONTACT, "answered_at": T0.isoformat()},
    "hotline.contact.abandoned.v1": {**_CONTACT, "queued_at": T0.isoformat()},
    "hotline.contact.failed.v1": {**_CONTACT, "reason": "queue-full"},
    "hotline.contact.callback-number-recorded.v1": {**_CONTACT, "caller_reachable": True},
    "hotline.risk.assessed.v1": {
        "contact_id": CONTACT_ID,
        "screening_id": "s-1",
        "level": "high",
        "computed_level": "moderate",
        "rule_version": "cssrs-screener-2024.1",
        "override": {"level": "high", "reason_code": "clinical-judgement"},
        "assessed_by": "counselor-7",
        "assessed_at": T0.isoformat(),
    },
    "hotline.risk.escalated.v1": {
        "contact_id": CONTACT_ID,
        "escalation_id": "e-1",
        "reason": "attempt-in-progress",
        "actions": ["ems-dispatched"],
        "escalated_by": "counselor-7",
        "escalated_at": T0.isoformat(),
    },
    "hotline.risk.ems-confirmed.v1": {
        "contact_id": CONTACT_ID,
        "escalation_id": "e-1",
        "reached": True,
        "confirmed_by": "supervisor-2",
        "confirmed_at": T0.isoformat(),
    },
    "hotline.session.opened.v1": {
        "contact_id": CONTACT_ID,
        "session_id": "sess-1",
        "leg": 1,
        "counselor_id": "counselor-7",
        "opened_at": T0.isoformat(),
    },
    "hotline.session.closed.v1": {
        "contact_id": CONTACT_ID,
        "session_id": "sess-1",
        "disposition": "safety-plan-made",
        "risk_level": "moderate",
        "escalated": False,
        "followup_consent": True,
        "caring_contacts_consent": True,
        "caring_contacts_channel": "sms",
        "closed_by": "counselor-7",
        "closed_at": T0.isoformat(),
    },
    "hotline.session.documentation-overdue.v1": {
        "contact_id": CONTACT_ID,
        "session_id": "sess-1",
        "ended_at": T0.isoformat(),
        "overdue_at": T0.isoformat(),
    },
    "hotline.security.phi-read-burst.v1": {
        "contact_id": CONTACT_ID,
        "user": "counselor-7",
        "role": "counselor",
        "service": "intake",
        "reads": 61,
        "limit": 60,
        "window_start": T0.isoformat(),
        "window_seconds": 60.0,
    },
    "hotline.security.break-glass.v1": {
        "contact_id": CONTACT_ID,
        "user": "counselor-9",
        "service": "sessions",
        "resource": "session",
        "resource_id": "sess-1",
        "at": T0.isoformat(),
    },
    "hotline.contact.legal-hold-changed.v1": {
        "contact_id": CONTACT_ID,
        "held": True,
        "changed_by": "supervisor-2",
        "changed_at": T0.isoformat(),
    },
    "hotline.followup.caring-reply-received.v1": {
        **_FOLLOWUP,
        "kind": "caring-contact",
        "received_at": T0.isoformat(),
    },
    "hotline.followup.scheduled.v1": {
        **_FOLLOWUP,
        "due_at": T0.isoformat(),
        "deadline_at": T0.isoformat(),
        "attempt_no": 1,
        "policy_version": "default-1",
    },
    "hotline.followup.due.v1": {**_FOLLOWUP, "due_at": T0.isoformat(), "attempt_no": 1},
    "hotline.followup.attempted.v1": {
        **_FOLLOWUP,
        "attempt_no": 1,
        "outcome": "no-answer",
        "attempted_at": T0.isoformat(),
    },
    "hotline.followup.completed.v1": {**_FOLLOWUP, "completed_at": T0.isoformat()},
    "hotline.followup.missed.v1": {**_FOLLOWUP, "attempts": 3, "missed_at": T0.isoformat()},
    "hotline.followup.sla-at-risk.v1": {
        **_FOLLOWUP,
        "deadline_at": T0.isoformat(),
        "observed_at": T0.isoformat(),
    },
    "hotline.followup.sla-breached.v1": {
        **_FOLLOWUP,
        "deadline_at": T0.isoformat(),
        "observed_at": T0.isoformat(),
    },
}
assert set(SAMPLE_DATA) == set(EVENT_TYPES)


def sample_envelope(event_type: str, **overrides: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"id-{event_type}",
        "source": "hotline/test",
        "type": event_type,
        "subject": CONTACT_ID,
        "time": T0.isoformat(),
        "datacontenttype": "application/json",
        "centerid": "center-01",
        "correlationid": CONTACT_ID,
        "data": SAMPLE_DATA[event_type],
        **overrides,
    }


def sample_event(event_type: str, **overrides: Any) -> Envelope:
    return EVENT_TYPES[event_type].model_validate(sample_envelope(event_type, **overrides))
