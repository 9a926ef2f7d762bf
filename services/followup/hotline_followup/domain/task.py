"""A follow-up task: scheduled → due → attempted (n) → completed | missed | cancelled,
and its SLA for every attempt window, not only the first: on-track → at-risk (75% of the
window gone, no attempt in it) → breached (window gone); an attempt opens the next window
(on-track again). Pure: time is a parameter; each transition is reported once per window.
The first-attempt KPI keeps whether the first attempt came inside the first window."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from hotline_shared.events import AttemptOutcome, FollowupKind


class Status(StrEnum):
    NEEDS_NUMBER = "needs-number"  # a callback for a contact that came without a number
    SCHEDULED = "scheduled"
    DUE = "due"
    ATTEMPTED = "attempted"
    COMPLETED = "completed"
    MISSED = "missed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({Status.COMPLETED, Status.MISSED, Status.CANCELLED})


class Sla(StrEnum):
    ON_TRACK = "on-track"
    AT_RISK = "at-risk"
    BREACHED = "breached"


class Happened(StrEnum):
    DUE = "due"
    SLA_AT_RISK = "sla-at-risk"
    SLA_BREACHED = "sla-breached"
    ATTEMPTED = "attempted"
    COMPLETED = "completed"
    MISSED = "missed"
    CANCELLED = "cancelled"


class TaskClosed(Exception):
    """The task is completed, missed or cancelled: no more attempts."""


class NeedsNumber(Exception):
    """A callback without a number to call: nothing to attempt yet."""


# Outcomes that end the follow-up (engaged, declined, or handed to imminent-risk work) and
# those that make the person unreachable; the rest (no answer, voicemail) try again.
ENDS_COMPLETED = frozenset(
    {AttemptOutcome.REACHED, AttemptOutcome.DECLINED, AttemptOutcome.ESCALATED}
)
ENDS_MISSED = frozenset({AttemptOutcome.WRONG_NUMBER})


@dataclass(frozen=True)
class Task:
    id: str
    kind: FollowupKind
    contact_id: str
    center_id: str
    created_at: datetime
    window_start: datetime
    due_at: datetime
    max_attempts: int | None
    spacing: timedelta
    policy_version: str
    status: Status = Status.SCHEDULED
    sla: Sla = Sla.ON_TRACK
    attempts: int = 0
    first_attempt_at: datetime | None = None
    due_fired: int = 0  # attempt number whose `due` was reported
    caller_token: str | None = None
    attempt_keys: tuple[str, ...] = ()  # Idempotency-Keys of the attempts recorded
    first_attempt_in_sla: bool | None = None
    last_outcome: AttemptOutcome | None = None
    claimed_by: str | None = None
    claim_until: datetime | None = None
    reschedules: int = 0  # agreed times so far: each opens a window of its own

    @property
    def window(self) -> int:
        """Which attempt window the task is in (0: before the first attempt)."""
        return self.attempts

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def at_risk_at(self, fraction: float) -> datetime:
        return self.window_start + (self.due_at - self.window_start) * fraction


def next_fire_at(task: Task, fraction: float) -> datetime | None:
    """When this task's timer must next run, or None when nothing is left to fire."""
    if task.terminal or task.status is Status.NEEDS_NUMBER:
        return None
    candidates = []
    if task.sla is Sla.ON_TRACK:
        candidates.append(task.at_risk_at(fraction))
    if task.due_fired < task.attempts + 1 or task.sla is not Sla.BREACHED:
        candidates.append(task.due_at)
    return min(candidates) if candidates else None


def fire(task: Task, *, now: datetime, fraction: float) -> tuple[Task, list[Happened]]:
    """Apply every timer that has come due by `now`, in order, each at most once a window."""
    if task.terminal or task.status is Status.NEEDS_NUMBER:
        return task, []
    happened: list[Happened] = []
    if task.sla is Sla.ON_TRACK and now >= task.at_risk_at(fraction):
        task = replace(task, sla=Sla.AT_RISK)
        happened.append(Happened.SLA_AT_RISK)
    if now >= task.due_at and task.due_fired < task.attempts + 1:
        task = replace(task, status=Status.DUE, due_fired=task.attempts + 1)
        happened.append(Happened.DUE)
    if task.sla is not Sla.BREACHED and now >= task.due_at:
        task = replace(task, sla=Sla.BREACHED)
        happened.append(Happened.SLA_BREACHED)
    return task, happened


def attempt(
    task: Task, outcome: AttemptOutcome, *, now: datetime, key: str | None = None,
    wants_more_contact: bool | None = None,
) -> tuple[Task, list[Happened]]:  # fmt: skip
    """Record an attempt; the next one is scheduled by the policy's spacing, or the task ends.
    An attempt sent again with the same idempotency key is the same attempt: nothing changes.

    Follow-Up Matters: a call that reaches the person ends the follow-up unless they want
    more contact (then the next call is scheduled, and unanswered-attempt limits do not make
    an engaged person "lost"); a person who wants no more contact ends it, as a decline does."""
    if key is not None and key in task.attempt_keys:
        return task, []
    if task.status is Status.NEEDS_NUMBER:
        raise NeedsNumber("record a callback number first")
    if key is not None:
        task = replace(task, attempt_keys=(*task.attempt_keys, key))
    if task.terminal:
        raise TaskClosed(f"task is {task.status}")
    late: list[Happened] = []
    if task.sla is not Sla.BREACHED and now >= task.due_at:
        task, late = replace(task, sla=Sla.BREACHED), [Happened.SLA_BREACHED]  # timer not run yet
    attempts = task.attempts + 1
    first_in_sla = task.first_attempt_in_sla
    if first_in_sla is None:
        first_in_sla = task.sla is not Sla.BREACHED
    task = replace(task, attempts=attempts, first_attempt_at=task.first_attempt_at or now,
                   first_attempt_in_sla=first_in_sla, last_outcome=outcome)  # fmt: skip
    engaged = outcome is AttemptOutcome.REACHED and wants_more_contact is True
    if (outcome in ENDS_COMPLETED and not engaged) or wants_more_contact is False:
        return replace(task, status=Status.COMPLETED), [
            *late,
            Happened.ATTEMPTED,
            Happened.COMPLETED,
        ]
    exhausted = task.max_attempts is not None and attempts >= task.max_attempts and not engaged
    if outcome in ENDS_MISSED or exhausted:
        return replace(task, status=Status.MISSED), [*late, Happened.ATTEMPTED, Happened.MISSED]
    again = replace(task, status=Status.ATTEMPTED, window_start=now, due_at=now + task.spacing,
                    sla=Sla.ON_TRACK)  # the next window  # fmt: skip
    return again, [*late, Happened.ATTEMPTED]


def cancel(task: Task) -> tuple[Task, list[Happened]]:
    """Cancel a task nobody has worked yet (the caller got through again)."""
    if task.terminal or task.attempts > 0:
        return task, []
    return replace(task, status=Status.CANCELLED), [Happened.CANCELLED]


def complete(task: Task) -> tuple[Task, list[Happened]]:
    """Complete from outside (emergency services confirmed they reached the person)."""
    if task.terminal:
        return task, []
    return replace(task, status=Status.COMPLETED), [Happened.COMPLETED]


def within_sla(task: Task) -> bool | None:
    """Whether the first attempt came inside the first window (None: not attempted yet)."""
    return task.first_attempt_in_sla


# ---- a worker's claim, and a call at an agreed time ---------------------------------------


class ClaimedByOther(Exception):
    """Another worker holds the task (until their claim expires or they release it)."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"claimed by {holder}")
        self.holder = holder


def holder(task: Task, now: datetime) -> str | None:
    """Who holds the task now (a claim expires by itself)."""
    if task.claimed_by and task.claim_until and task.claim_until > now:
        return task.claimed_by
    return None


def claim(task: Task, worker: str, *, now: datetime, ttl: timedelta) -> Task:
    """Take (or renew) the task for `ttl`; others see it claimed until then."""
    if task.terminal:
        raise TaskClosed(f"task is {task.status}")
    current = holder(task, now)
    if current is not None and current != worker:
        raise ClaimedByOther(current)
    return replace(task, claimed_by=worker, claim_until=now + ttl)


def release(task: Task, worker: str, *, now: datetime, supervisor: bool = False) -> Task:
    """Give the task back to the queue (its holder, or a supervisor)."""
    current = holder(task, now)
    if current is not None and current != worker and not supervisor:
        raise ClaimedByOther(current)
    return replace(task, claimed_by=None, claim_until=None)


def assign(task: Task, worker: str, *, now: datetime, ttl: timedelta) -> Task:
    """A supervisor hands the task to a worker (whoever held it): claimed for them for `ttl`."""
    if task.terminal:
        raise TaskClosed(f"task is {task.status}")
    return replace(task, claimed_by=worker, claim_until=now + ttl)


def check_not_claimed_by_other(task: Task, worker: str, *, now: datetime) -> None:
    current = holder(task, now)
    if current is not None and current != worker:
        raise ClaimedByOther(current)


class NotSchedulable(ValueError):
    """An agreed time in the past, or outside the center's calling hours."""


def schedule(task: Task, at: datetime, *, now: datetime) -> Task:
    """The next attempt at a time agreed with the person ("call Tuesday 6 pm"): a new window
    that ends then (the caller checks calling hours first)."""
    if task.terminal:
        raise TaskClosed(f"task is {task.status}")
    if at <= now:
        raise NotSchedulable("the agreed time has passed")
    status = Status.SCHEDULED if task.attempts == 0 else Status.ATTEMPTED
    return replace(task, window_start=now, due_at=at, sla=Sla.ON_TRACK, status=status,
                   due_fired=task.attempts, reschedules=task.reschedules + 1)  # fmt: skip


def number_recorded(task: Task, *, caller_token: str | None, now: datetime,
                    first_due: timedelta) -> tuple[Task, list[Happened]]:  # fmt: skip
    """A callback number arrived: the waiting callback starts its first window now."""
    if task.status is not Status.NEEDS_NUMBER:
        return task, []
    return replace(task, status=Status.SCHEDULED, window_start=now, due_at=now + first_due,
                   caller_token=caller_token), []  # fmt: skip
