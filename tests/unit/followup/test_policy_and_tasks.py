"""Follow-up policy and task rules with a fake clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hotline_followup.adapters.tasks import new_task
from hotline_followup.domain.policy import (
    CARING_CADENCE_DAYS,
    Policy,
    PolicyError,
    TaskSpec,
    load_policy,
    plan,
)  # fmt: skip
from hotline_followup.domain.task import (
    Happened,
    Sla,
    Status,
    Task,
    TaskClosed,
    attempt,
    cancel,
    complete,
    fire,
    next_fire_at,
    within_sla,
)  # fmt: skip
from hotline_shared.clock import FakeClock
from hotline_shared.events import AttemptOutcome, FollowupKind

from tests.factories import sample_event

T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
POLICY = Policy()
H = timedelta(hours=1)


def event(kind: str, **data: Any) -> Any:
    from tests.factories import SAMPLE_DATA

    return sample_event(
        f"hotline.{kind}.v1",
        time=T0.isoformat(),
        data={**SAMPLE_DATA[f"hotline.{kind}.v1"], **data},
    )


def closed(**data: Any) -> Any:
    base = {"risk_level": "none", "escalated": False, "followup_consent": False,
            "caring_contacts_consent": False, "closed_at": T0.isoformat()}  # fmt: skip
    return event("session.closed", **{**base, **data})


def only(specs: list[TaskSpec]) -> TaskSpec:
    assert len(specs) == 1, specs
    return specs[0]


# ---- every row of the policy table -----------------------------------------------------------


def test_abandoned_reachable_caller_gets_a_callback_due_in_30_minutes() -> None:
    spec = only(plan(event("contact.abandoned", occurred_at=T0.isoformat()), POLICY).create)
    assert (spec.kind, spec.due_at - spec.created_at, spec.max_attempts) == (
        FollowupKind.CALLBACK,
        30 * timedelta(minutes=1),
        3,
    )


def test_an_abandoned_caller_without_a_number_gets_a_callback_that_waits_for_one() -> None:
    from hotline_followup.domain.task import NeedsNumber, number_recorded

    spec = only(
        plan(event("contact.abandoned", caller_reachable=False, caller_token=None), POLICY).create
    )
    task = new_task(spec, spacing=timedelta(minutes=30))
    assert spec.needs_number and task.status is Status.NEEDS_NUMBER
    assert next_fire_at(task, 0.75) is None and fire(task, now=T0 + 9 * H, fraction=0.75)[1] == []
    with pytest.raises(NeedsNumber):
        attempt(task, AttemptOutcome.NO_ANSWER, now=T0 + H)
    recorded = event("contact.callback-number-recorded", caller_token="tok-9")
    assert plan(recorded, POLICY).number_for == recorded.data.contact_id
    started, _ = number_recorded(
        task, caller_token="tok-9", now=T0 + 2 * H, first_due=timedelta(minutes=30)
    )
    assert (started.status, started.window_start, started.due_at, started.caller_token) == (
        Status.SCHEDULED,
        T0 + 2 * H,
        T0 + 2 * H + timedelta(minutes=30),
        "tok-9",
    )
    assert number_recorded(started, caller_token="x", now=T0, first_due=H) == (started, [])


def test_escalation_gets_an_ems_confirmation_due_in_an_hour_until_confirmed() -> None:
    spec = only(plan(event("risk.escalated", escalated_at=T0.isoformat()), POLICY).create)
    assert (spec.kind, spec.due_at - T0, spec.max_attempts) == (
        FollowupKind.EMS_CONFIRMATION,
        H,
        None,
    )


def test_ems_confirmed_reached_completes_and_not_reached_keeps_trying() -> None:
    assert plan(event("risk.ems-confirmed", reached=True), POLICY).complete_ems_for == "e-1"
    assert plan(event("risk.ems-confirmed", reached=False), POLICY).complete_ems_for is None


@pytest.mark.parametrize(
    ("risk", "escalated", "consent", "kind", "due_hours", "attempts"),
    [
        ("high", False, True, FollowupKind.SAFETY_FOLLOW_UP, 24, 5),
        ("low", True, True, FollowupKind.SAFETY_FOLLOW_UP, 24, 5),
        ("moderate", False, True, FollowupKind.FOLLOW_UP, 48, 3),
        ("low", False, True, FollowupKind.CHECK_IN, 48, 3),
    ],
)
def test_session_closed_rows(
    risk: str, escalated: bool, consent: bool, kind: FollowupKind, due_hours: int, attempts: int
) -> None:
    spec = only(
        plan(closed(risk_level=risk, escalated=escalated, followup_consent=consent), POLICY).create
    )
    assert (spec.kind, spec.due_at - T0, spec.max_attempts) == (kind, due_hours * H, attempts)


@pytest.mark.parametrize("risk", ["none", "low", "moderate", "high"])
@pytest.mark.parametrize("escalated", [False, True])
@pytest.mark.parametrize("consent", [False, True])
@pytest.mark.parametrize("waived", [False, True])
def test_outreach_needs_consent_unless_the_center_waives_it_for_a_safety_follow_up(
    risk: str, escalated: bool, consent: bool, waived: bool
) -> None:
    policy = Policy(safety_follow_up_without_consent=waived)
    kinds = [s.kind for s in plan(closed(risk_level=risk, escalated=escalated,
                                         followup_consent=consent), policy).create]  # fmt: skip
    severe = escalated or risk == "high"
    expected = (FollowupKind.SAFETY_FOLLOW_UP if severe else FollowupKind.FOLLOW_UP
                if risk == "moderate" else FollowupKind.CHECK_IN if risk == "low" else None)  # fmt: skip
    allowed = consent or (severe and waived)
    assert kinds == ([expected] if expected and allowed else [])


def test_an_escalation_always_gets_its_ems_confirmation_consent_or_not() -> None:
    kinds = [s.kind for s in plan(event("risk.escalated"), Policy()).create]
    assert kinds == [FollowupKind.EMS_CONFIRMATION]


def test_caring_contacts_are_one_series_on_the_documented_cadence_not_tasks() -> None:
    decided = plan(closed(caring_contacts_consent=True), POLICY)
    assert decided.create == []  # messages, not calls
    series = decided.series
    assert series is not None and series.channel == "sms"
    assert (
        [offset.days for offset in series.offsets]
        == list(CARING_CADENCE_DAYS)
        == [1, 7, 14, 30, 60, 90, 120, 180, 240, 300, 365]
    )
    assert series.closed_at == T0 and series.window == timedelta(days=1)
    again = plan(closed(caring_contacts_consent=True), POLICY).series
    assert again is not None and again.id == series.id  # a replayed close: the same series


@pytest.mark.parametrize(("requested", "channel"), [("sms", "sms"), ("email", "email"),
                                                    ("phone", "sms"), (None, "sms")])  # fmt: skip
def test_a_series_goes_by_the_channel_consented_to(requested: str | None, channel: str) -> None:
    series = plan(
        closed(caring_contacts_consent=True, caring_contacts_channel=requested), POLICY
    ).series
    assert series is not None and series.channel == channel


def test_no_consent_no_series() -> None:
    assert plan(closed(caring_contacts_consent=False, risk_level="high"), POLICY).series is None


def test_answered_again_cancels_callbacks_for_that_caller() -> None:
    assert plan(event("contact.answered"), POLICY).cancel_callbacks_for_caller == "ab" * 32


def test_replaying_an_event_plans_the_same_task_ids() -> None:
    first = plan(closed(risk_level="high", caring_contacts_consent=True), POLICY).create
    again = plan(closed(risk_level="high", caring_contacts_consent=True), POLICY).create
    assert [s.id for s in first] == [s.id for s in again]


def test_tasks_record_the_policy_version() -> None:
    spec = only(plan(closed(risk_level="high", followup_consent=True), POLICY).create)
    assert spec.policy_version == POLICY.version


# ---- policy as data ---------------------------------------------------------------------------


def test_center_override_merges_into_the_default() -> None:
    policy = load_policy("center-01", {"version": "c1-2", "callback": {"max_attempts": 5}})
    assert policy.callback.max_attempts == 5 and policy.callback.first_due_seconds == 1800
    assert policy.version == "c1-2"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"callback": {"first_due_seconds": -5}}, "callback.first_due_seconds"),
     ({"check_in": {"spacing_seconds": "soon"}}, "check_in.spacing_seconds"),
     ({"unknown_rule": {}}, "unknown_rule")],
)  # fmt: skip
def test_a_bad_policy_names_the_center_and_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(PolicyError) as err:
        load_policy("center-07", overrides)
    assert "center-07" in str(err.value) and field in str(err.value)


def test_demo_profile_shrinks_time() -> None:
    demo = Policy(time_scale=1 / 720)
    spec = only(plan(closed(risk_level="high", followup_consent=True), demo).create)
    assert spec.due_at - T0 == timedelta(seconds=120)


# ---- timers and SLA, with a fake clock ----------------------------------------------------------


def callback_task(policy: Policy = POLICY) -> Task:
    spec = only(plan(event("contact.abandoned", occurred_at=T0.isoformat()), policy).create)
    return new_task(spec, spacing=policy.seconds(policy.callback.spacing_seconds))


def run(task: Task, clock: FakeClock) -> tuple[Task, list[Happened]]:
    return fire(task, now=clock.now(), fraction=0.75)


def test_at_risk_and_breach_exactly_at_their_thresholds_and_once_each() -> None:
    clock, task = FakeClock(T0), callback_task()
    assert next_fire_at(task, 0.75) == T0 + timedelta(minutes=22.5)
    clock.set(T0 + timedelta(minutes=22.5) - timedelta(microseconds=1))
    task, happened = run(task, clock)
    assert happened == [] and task.sla is Sla.ON_TRACK
    clock.set(T0 + timedelta(minutes=22.5))
    task, happened = run(task, clock)
    assert happened == [Happened.SLA_AT_RISK]
    task, happened = run(task, clock)
    assert happened == []  # once
    assert next_fire_at(task, 0.75) == T0 + timedelta(minutes=30)
    clock.set(T0 + timedelta(minutes=30) - timedelta(microseconds=1))
    assert run(task, clock)[1] == []
    clock.set(T0 + timedelta(minutes=30))
    task, happened = run(task, clock)
    assert happened == [Happened.DUE, Happened.SLA_BREACHED]
    assert (task.status, task.sla) == (Status.DUE, Sla.BREACHED)
    clock.advance(H * 5)
    assert run(task, clock)[1] == [] and next_fire_at(task, 0.75) is None


def test_a_timer_that_runs_late_reports_every_transition_in_order() -> None:
    _, happened = fire(callback_task(), now=T0 + 3 * H, fraction=0.75)
    assert happened == [Happened.SLA_AT_RISK, Happened.DUE, Happened.SLA_BREACHED]


def test_an_attempt_inside_the_window_is_within_sla_and_opens_the_next_window() -> None:
    task, _ = fire(callback_task(), now=T0 + timedelta(minutes=25), fraction=0.75)
    assert task.sla is Sla.AT_RISK
    task, happened = attempt(task, AttemptOutcome.NO_ANSWER, now=T0 + timedelta(minutes=26))
    assert happened == [Happened.ATTEMPTED] and within_sla(task) is True
    assert (task.sla, task.window_start, task.due_at) == (
        Sla.ON_TRACK,
        T0 + timedelta(minutes=26),
        T0 + timedelta(minutes=56),
    )


def test_every_attempt_window_has_its_own_sla_not_only_the_first() -> None:
    """A task idle past its next-attempt deadline goes at-risk, then breached, again."""
    task, _ = attempt(callback_task(), AttemptOutcome.NO_ANSWER, now=T0 + timedelta(minutes=5))
    assert next_fire_at(task, 0.75) == T0 + timedelta(minutes=5 + 22.5)
    task, happened = fire(task, now=T0 + timedelta(minutes=5 + 22.5), fraction=0.75)
    assert happened == [Happened.SLA_AT_RISK] and task.sla is Sla.AT_RISK
    task, happened = fire(task, now=T0 + timedelta(minutes=35), fraction=0.75)
    assert happened == [Happened.DUE, Happened.SLA_BREACHED] and task.sla is Sla.BREACHED
    assert fire(task, now=T0 + 3 * H, fraction=0.75)[1] == []  # once a window
    task, happened = attempt(task, AttemptOutcome.NO_ANSWER, now=T0 + 3 * H)
    assert happened == [Happened.ATTEMPTED] and task.sla is Sla.ON_TRACK  # the third window
    assert within_sla(task) is True  # the first attempt was on time: the KPI keeps that


def test_an_attempt_after_the_window_closed_reports_that_windows_breach_first() -> None:
    task, _ = attempt(callback_task(), AttemptOutcome.NO_ANSWER, now=T0 + timedelta(minutes=5))
    task, happened = attempt(task, AttemptOutcome.NO_ANSWER, now=T0 + 2 * H)  # timer never ran
    assert happened == [Happened.SLA_BREACHED, Happened.ATTEMPTED]


def test_a_late_first_attempt_counts_as_breached_even_before_the_timer_ran() -> None:
    task, happened = attempt(callback_task(), AttemptOutcome.REACHED, now=T0 + H)
    assert happened == [Happened.SLA_BREACHED, Happened.ATTEMPTED, Happened.COMPLETED]
    assert within_sla(task) is False


def test_attempts_are_spaced_by_the_policy_and_exhaustion_is_missed() -> None:
    clock, task = FakeClock(T0 + timedelta(minutes=10)), callback_task()
    for n in (1, 2):
        task, happened = attempt(task, AttemptOutcome.NO_ANSWER, now=clock.now())
        assert happened == [Happened.ATTEMPTED] and task.status is Status.ATTEMPTED
        assert task.due_at == clock.now() + timedelta(minutes=30)
        clock.advance(timedelta(minutes=30))
        task, happened = fire(task, now=clock.now(), fraction=0.75)
        assert happened == [Happened.SLA_AT_RISK, Happened.DUE, Happened.SLA_BREACHED]
        assert task.due_fired == n + 1
    task, happened = attempt(task, AttemptOutcome.VOICEMAIL, now=clock.now())
    assert happened == [Happened.ATTEMPTED, Happened.MISSED] and task.status is Status.MISSED
    with pytest.raises(TaskClosed):
        attempt(task, AttemptOutcome.REACHED, now=clock.now())


@pytest.mark.parametrize(
    ("outcome", "status"),
    [(AttemptOutcome.REACHED, Status.COMPLETED), (AttemptOutcome.DECLINED, Status.COMPLETED),
     (AttemptOutcome.ESCALATED, Status.COMPLETED), (AttemptOutcome.WRONG_NUMBER, Status.MISSED),
     (AttemptOutcome.NO_ANSWER, Status.ATTEMPTED), (AttemptOutcome.VOICEMAIL, Status.ATTEMPTED)],
)  # fmt: skip
def test_outcomes(outcome: AttemptOutcome, status: Status) -> None:
    task, _ = attempt(callback_task(), outcome, now=T0 + timedelta(minutes=5))
    assert task.status is status


def test_ems_confirmation_keeps_going_until_confirmed() -> None:
    spec = only(plan(event("risk.escalated", escalated_at=T0.isoformat()), POLICY).create)
    task = new_task(spec, spacing=H)
    for n in range(10):
        task, _ = attempt(task, AttemptOutcome.NO_ANSWER, now=T0 + n * H)
    assert task.status is Status.ATTEMPTED
    task, happened = complete(task)
    assert happened == [Happened.COMPLETED] and complete(task)[1] == []


def test_only_untouched_tasks_are_cancelled() -> None:
    task, happened = cancel(callback_task())
    assert happened == [Happened.CANCELLED] and task.status is Status.CANCELLED
    tried, _ = attempt(callback_task(), AttemptOutcome.NO_ANSWER, now=T0)
    assert cancel(tried)[1] == []


def test_an_attempt_sent_again_with_its_idempotency_key_counts_once() -> None:
    task = callback_task()
    once, happened = attempt(task, AttemptOutcome.NO_ANSWER, now=T0 + H, key="k1")
    assert once.attempts == 1 and Happened.ATTEMPTED in happened
    again, nothing = attempt(once, AttemptOutcome.NO_ANSWER, now=T0 + 2 * H, key="k1")
    assert (again, nothing) == (once, [])
    other, _ = attempt(once, AttemptOutcome.NO_ANSWER, now=T0 + 2 * H, key="k2")
    assert other.attempts == 2


def test_a_replayed_attempt_that_ended_the_task_is_not_refused() -> None:
    done, _ = attempt(callback_task(), AttemptOutcome.REACHED, now=T0 + H, key="k1")
    assert done.status is Status.COMPLETED
    assert attempt(done, AttemptOutcome.REACHED, now=T0 + 2 * H, key="k1") == (done, [])
    with pytest.raises(TaskClosed):
        attempt(done, AttemptOutcome.REACHED, now=T0 + 2 * H, key="k2")


def test_short_abandons_and_failed_contacts_get_no_callback() -> None:
    assert plan(event("contact.abandoned", short=True), POLICY).create == []
    assert plan(event("contact.failed"), POLICY).create == []
    assert [s.kind for s in plan(event("contact.abandoned", short=False), POLICY).create] == [
        FollowupKind.CALLBACK
    ]


def test_a_reached_person_who_wants_more_contact_keeps_their_follow_up_going() -> None:
    task = callback_task()
    for n in range(5):  # more than max_attempts: an engaged person is never "lost"
        task, happened = attempt(
            task, AttemptOutcome.REACHED, now=T0 + n * H, wants_more_contact=True
        )
        assert task.status is Status.ATTEMPTED and Happened.MISSED not in happened
    task, happened = attempt(task, AttemptOutcome.REACHED, now=T0 + 6 * H)
    assert task.status is Status.COMPLETED and happened[-1] is Happened.COMPLETED


@pytest.mark.parametrize("outcome", list(AttemptOutcome))
def test_a_person_who_wants_no_more_contact_ends_the_follow_up(outcome: AttemptOutcome) -> None:
    task, happened = attempt(callback_task(), outcome, now=T0 + H, wants_more_contact=False)
    assert task.status is Status.COMPLETED and happened[-1] is Happened.COMPLETED


@pytest.mark.parametrize("level", ["none", "low", "moderate", "high"])
@pytest.mark.parametrize("during_followup", [False, True])
def test_a_re_screen_at_high_risk_during_a_follow_up_makes_a_new_safety_follow_up(
    level: str, during_followup: bool
) -> None:
    screening = event("risk.assessed", level=level, override=None, screening_id="s-9",
                      followup_id="f-1" if during_followup else None)  # fmt: skip
    kinds = [(s.kind, s.cause) for s in plan(screening, POLICY).create]
    expected = level == "high" and during_followup
    assert kinds == ([(FollowupKind.SAFETY_FOLLOW_UP, "rescreen:s-9")] if expected else [])


def test_a_claim_holds_a_task_for_its_worker_until_it_expires_or_is_released() -> None:
    from hotline_followup.domain.task import ClaimedByOther, claim, holder, release

    task = claim(callback_task(), "ana", now=T0, ttl=timedelta(minutes=15))
    assert holder(task, T0 + timedelta(minutes=14)) == "ana"
    with pytest.raises(ClaimedByOther):
        claim(task, "ben", now=T0 + timedelta(minutes=1), ttl=timedelta(minutes=15))
    assert claim(
        task, "ana", now=T0 + timedelta(minutes=10), ttl=timedelta(minutes=15)
    ).claim_until == (T0 + timedelta(minutes=25))  # renewed
    expired = claim(task, "ben", now=T0 + timedelta(minutes=15), ttl=timedelta(minutes=15))
    assert holder(expired, T0 + timedelta(minutes=16)) == "ben"
    with pytest.raises(ClaimedByOther):
        release(task, "ben", now=T0)
    assert holder(release(task, "ben", now=T0, supervisor=True), T0) is None
    assert holder(release(task, "ana", now=T0), T0) is None


def test_an_agreed_time_opens_a_window_that_ends_then() -> None:
    from hotline_followup.domain.task import NotSchedulable, schedule

    task, _ = fire(callback_task(), now=T0 + H, fraction=0.75)  # breached
    agreed = schedule(task, T0 + 30 * H, now=T0 + 2 * H)
    assert (agreed.window_start, agreed.due_at, agreed.sla) == (
        T0 + 2 * H,
        T0 + 30 * H,
        Sla.ON_TRACK,
    )
    with pytest.raises(NotSchedulable):
        schedule(task, T0, now=T0 + 2 * H)
    done, _ = attempt(task, AttemptOutcome.REACHED, now=T0 + 2 * H)
    with pytest.raises(TaskClosed):
        schedule(done, T0 + 30 * H, now=T0 + 2 * H)


def test_a_missed_agreed_time_is_at_risk_and_breached_again_and_comes_due_again() -> None:
    from hotline_followup.domain.task import schedule

    task, happened = fire(callback_task(), now=T0 + H, fraction=0.75)
    assert happened == [Happened.SLA_AT_RISK, Happened.DUE, Happened.SLA_BREACHED]
    agreed = schedule(task, T0 + 10 * H, now=T0 + 2 * H)
    assert (agreed.status, agreed.reschedules, next_fire_at(agreed, 0.75)) == (
        Status.SCHEDULED,
        1,
        T0 + 2 * H + (8 * H) * 0.75,
    )
    assert fire(agreed, now=T0 + 5 * H, fraction=0.75)[1] == []  # not due before the agreed time
    _, happened = fire(agreed, now=T0 + 10 * H, fraction=0.75)
    assert happened == [Happened.SLA_AT_RISK, Happened.DUE, Happened.SLA_BREACHED]


def test_a_supervisor_assigns_a_task_to_a_worker_over_anyones_claim() -> None:
    from hotline_followup.domain.task import TaskClosed, assign, claim, holder

    held = claim(callback_task(), "ana", now=T0, ttl=timedelta(minutes=15))
    given = assign(held, "ben", now=T0 + timedelta(minutes=1), ttl=timedelta(minutes=15))
    assert holder(given, T0 + timedelta(minutes=2)) == "ben"
    assert given.claim_until == T0 + timedelta(minutes=16)
    closed = replace(callback_task(), status=Status.COMPLETED)
    with pytest.raises(TaskClosed):
        assign(closed, "ben", now=T0, ttl=timedelta(minutes=15))
