"""Domain metrics count the facts events record, by bounded labels only."""

from __future__ import annotations

import pytest
from hotline_shared import metrics
from hotline_shared.events import EVENT_TYPES
from prometheus_client import REGISTRY

from tests.factories import sample_event


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("event_type", "update", "series", "labels"),
    [
        ("hotline.contact.ended.v1", {}, "hotline_contacts_total",
         {"outcome": "answered", "channel": "voice"}),
        ("hotline.contact.ended.v1", {"answered_at": None}, "hotline_contacts_total",
         {"outcome": "unanswered", "channel": "voice"}),
        ("hotline.contact.abandoned.v1", {"short": False}, "hotline_contacts_total",
         {"outcome": "abandoned", "channel": "voice"}),
        ("hotline.contact.abandoned.v1", {"short": True}, "hotline_contacts_total",
         {"outcome": "short-abandoned", "channel": "voice"}),
        ("hotline.contact.failed.v1", {}, "hotline_contacts_total",
         {"outcome": "failed", "channel": "voice"}),
        ("hotline.risk.assessed.v1", {}, "hotline_screenings_total", {"level": "high"}),
        ("hotline.risk.escalated.v1", {}, "hotline_escalations_total",
         {"reason": "attempt-in-progress"}),
        ("hotline.session.documentation-overdue.v1", {}, "hotline_documentation_overdue_total", {}),
        ("hotline.followup.scheduled.v1", {}, "hotline_followup_transitions_total",
         {"kind": "callback", "transition": "scheduled"}),
        ("hotline.followup.sla-breached.v1", {}, "hotline_followup_transitions_total",
         {"kind": "callback", "transition": "sla-breached"}),
    ],
)  # fmt: skip
def test_a_published_event_counts_its_fact_once(
    event_type: str, update: dict[str, object], series: str, labels: dict[str, str]
) -> None:
    event = sample_event(event_type)
    data = event.data.model_copy(update=update)
    event = event.model_copy(update={"data": data})
    before = sample(series, **labels)
    metrics.count_published(event)
    assert sample(series, **labels) == before + 1


def test_events_that_record_no_counted_fact_count_nothing() -> None:
    counted = {"hotline_contacts_total", "hotline_screenings_total", "hotline_escalations_total",
               "hotline_documentation_overdue_total", "hotline_followup_transitions_total",
               "hotline_sessions_closed_total", "hotline_risk_overrides_total"}  # fmt: skip

    def totals() -> float:
        return sum(s.value for family in REGISTRY.collect() for s in family.samples
                   if s.name in counted)  # fmt: skip

    for name in ("hotline.contact.started.v1", "hotline.contact.queued.v1",
                 "hotline.session.opened.v1", "hotline.security.break-glass.v1"):  # fmt: skip
        before = totals()
        metrics.count_published(sample_event(name))
        assert totals() == before, name


def test_every_event_type_can_be_counted() -> None:
    for name in EVENT_TYPES:
        metrics.count_published(sample_event(name))  # no event type breaks the counting
