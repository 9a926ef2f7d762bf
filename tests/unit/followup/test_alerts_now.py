"""Which incoming facts raise a supervisor alert at once (issue: high or imminent risk acts now)."""

from __future__ import annotations

import pytest
from hotline_followup.domain.alerts import ALERTING_TYPES, alerts_supervisor_now
from hotline_shared.events import EVENT_TYPES, RiskLevel

from tests.factories import SAMPLE_DATA, sample_event

NOW = {
    "hotline.risk.escalated.v1",
    "hotline.session.documentation-overdue.v1",
    "hotline.security.phi-read-burst.v1",  # a user reading caller data in a burst
    "hotline.security.break-glass.v1",  # a counselor opening another's work
}


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_alerts_exactly_when_the_rule_says(event_type: str) -> None:
    event = sample_event(event_type)
    expected = event_type in NOW or (
        event_type == "hotline.risk.assessed.v1" and SAMPLE_DATA[event_type]["level"] == "high"
    )
    assert alerts_supervisor_now(event) is expected


@pytest.mark.parametrize("level", list(RiskLevel))
def test_a_screening_alerts_only_at_high_risk(level: RiskLevel) -> None:
    data = {**SAMPLE_DATA["hotline.risk.assessed.v1"], "level": str(level), "override": None}
    event = sample_event("hotline.risk.assessed.v1", data=data)
    assert alerts_supervisor_now(event) is (level is RiskLevel.HIGH)


def test_sla_trouble_of_every_task_alerts_including_an_unconfirmed_ems_dispatch() -> None:
    assert {
        "hotline.followup.sla-at-risk.v1",
        "hotline.followup.sla-breached.v1",
        "hotline.followup.missed.v1",
        "hotline.followup.caring-reply-received.v1",  # someone wrote back to a caring message
    } == ALERTING_TYPES
