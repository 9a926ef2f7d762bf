"""The contact state machine: started → queued → answered → (transferred) → ended,
or queued → abandoned. Pure: facts in, state and events-to-emit out.

Providers report facts ("observations") late, twice, and out of order. The machine
- records each provider event once (its dedupe key: sequence number or event id);
- keeps the first time reported for each milestone;
- emits each milestone at most once, always in the canonical order, and never one that
  an already emitted later milestone has overtaken (forward-only);
- holds a milestone back while one it implies is still unknown (answered, abandoned and
  transferred imply queued) until `settle_after` has passed, then infers it;
- holds `ended` back until the outcome is settled (answered, abandoned, known never to have
  queued) or `settle_after` has passed, because Twilio reports a queue's outcome in a
  separate callback that may come after the call's "completed" status.

Abandoned means the caller left the queue before any counselor answered. How each provider
says so is decided in its parser (adapters/), where the rule is written down: Twilio
QueueResult=hangup; Amazon Connect DISCONNECTED with queueInfo and no connected-to-agent
timestamp; Genesys acd.end acdOutcome=ABANDON; PBX bridges post an explicit "abandoned".
An abandoned contact is terminal: it emits no `ended`.

Failed means the caller never reached a counselor through no choice of theirs: Twilio
QueueResult=queue-full|error|system-error, Amazon Connect DISCONNECTED for a
TELECOM_PROBLEM before an agent, a PBX bridge's explicit "failed". A failed contact is
terminal too, is never an abandonment (no callback) and is counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from hotline_shared.events import Channel, Provider

DEFAULT_SETTLE = timedelta(minutes=2)


class Milestone(StrEnum):
    STARTED = "started"
    QUEUED = "queued"
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    FAILED = "failed"
    TRANSFERRED = "transferred"
    ENDED = "ended"


ORDER = tuple(
    Milestone
)  # canonical emission order (answered, abandoned, failed exclude each other)
TERMINAL = (Milestone.ABANDONED, Milestone.FAILED)


@dataclass(frozen=True)
class Observation:
    """What one provider message says about one contact, normalized."""

    provider: Provider
    provider_contact_id: str
    key: str  # identity of the provider event (sequence number, event id)
    occurred_at: datetime
    channel: Channel = Channel.VOICE
    times: dict[Milestone, datetime] = field(default_factory=dict)
    queue_wait_seconds: float | None = None  # Twilio: seconds the caller spent in queue
    bridged: bool = False  # Twilio: the queue connected the caller to a counselor
    outcome_final: bool = False  # an `ended` that already says everything (no later outcome)
    caller_number: str | None = None  # E.164; PHI, never leaves intake unencrypted
    caller_withheld: bool = False
    counselor_id: str | None = None
    to_center_id: str | None = None
    failure: str | None = None  # why the contact failed (the provider's word), with FAILED
    after_work_ended_at: datetime | None = None  # the counselor finished after-contact work


@dataclass(frozen=True)
class ContactState:
    contact_id: str
    provider: Provider
    provider_contact_id: str
    channel: Channel
    times: dict[Milestone, datetime] = field(default_factory=dict)
    emitted: tuple[Milestone, ...] = ()
    seen: tuple[str, ...] = ()
    inferred: frozenset[Milestone] = frozenset()  # times derived, not reported
    noticed: dict[Milestone, datetime] = field(default_factory=dict)  # when we learned of each
    queue_wait_seconds: float | None = None
    bridged: bool = False
    outcome_final: bool = False
    counselor_id: str | None = None
    counselors: tuple[str, ...] = ()  # every counselor who answered it (transfers too)
    to_center_id: str | None = None
    failure: str | None = None
    after_work_ended_at: datetime | None = None

    @property
    def status(self) -> Milestone | None:
        return self.emitted[-1] if self.emitted else None

    @property
    def terminal(self) -> bool:
        return self.status in (Milestone.ENDED, *TERMINAL)


def new_contact(contact_id: str, obs: Observation) -> ContactState:
    return ContactState(
        contact_id=contact_id,
        provider=obs.provider,
        provider_contact_id=obs.provider_contact_id,
        channel=obs.channel,
    )


# A milestone that implies another: a counselor answers, and a caller abandons, fails or is
# transferred, only from the queue.
IMPLIES = {
    Milestone.ANSWERED: Milestone.QUEUED,
    Milestone.ABANDONED: Milestone.QUEUED,
    Milestone.FAILED: Milestone.QUEUED,  # every provider reports failure at the queue
    Milestone.TRANSFERRED: Milestone.QUEUED,
}


def observe(
    state: ContactState,
    obs: Observation,
    *,
    now: datetime,
    settle_after: timedelta = DEFAULT_SETTLE,
) -> tuple[ContactState, list[Milestone]]:
    """Merge one observation; return the new state and the milestones to emit, in order."""
    if obs.key in state.seen:
        return state, []
    merged = _merge(state, obs, now=now)
    return settle(merged, now=now, settle_after=settle_after)


def settle(
    state: ContactState, *, now: datetime, settle_after: timedelta = DEFAULT_SETTLE
) -> tuple[ContactState, list[Milestone]]:
    """Emit what has become emittable (also called by the periodic settle job)."""
    state = _infer_implied(state, now=now, settle_after=settle_after)
    emit: list[Milestone] = []
    emitted = list(state.emitted)
    for milestone in ORDER:
        if milestone in emitted:
            continue
        implied = IMPLIES.get(milestone)
        if milestone in state.times and implied is not None and implied not in state.times:
            break  # hold this and everything after it until the implied milestone is known
        if not _ready(state, milestone, emitted, now, settle_after):
            continue
        if emitted and ORDER.index(emitted[-1]) > ORDER.index(milestone):
            continue  # overtaken: forward-only
        emitted.append(milestone)
        emit.append(milestone)
    return replace(state, emitted=tuple(emitted)), emit


def _infer_implied(state: ContactState, *, now: datetime, settle_after: timedelta) -> ContactState:
    times, inferred = dict(state.times), set(state.inferred)
    for milestone, implied in IMPLIES.items():
        when, noticed = times.get(milestone), state.noticed.get(milestone)
        if when is not None and implied not in times and now >= (noticed or when) + settle_after:
            times[implied] = when
            inferred.add(implied)
    return replace(state, times=times, inferred=frozenset(inferred))


def _ready(
    state: ContactState,
    milestone: Milestone,
    emitted: list[Milestone],
    now: datetime,
    settle_after: timedelta,
) -> bool:
    times = state.times
    if any(m in emitted for m in TERMINAL):
        return False  # terminal
    match milestone:
        case Milestone.STARTED:
            return bool(times)
        case Milestone.ABANDONED:
            return _abandoned(state, now, settle_after) and Milestone.ANSWERED not in emitted
        case Milestone.FAILED:
            return Milestone.FAILED in times and Milestone.ANSWERED not in times
        case Milestone.ENDED:
            return (
                Milestone.ENDED in times
                and _settled(state, now, settle_after)
                and not (_abandoned(state, now, settle_after))
                and not _failed(state)
            )
        case _:
            return milestone in times


def _settled(state: ContactState, now: datetime, settle_after: timedelta) -> bool:
    """Whether the contact's outcome can no longer change."""
    times = state.times
    return (
        state.outcome_final
        or Milestone.ANSWERED in times
        or Milestone.ABANDONED in times
        or Milestone.FAILED in times
        or Milestone.TRANSFERRED in times
        or (Milestone.ENDED in times and now >= _noticed(state, Milestone.ENDED) + settle_after)
    )


def _noticed(state: ContactState, milestone: Milestone) -> datetime:
    """Windows run from when we learned of a milestone, not from when it happened:
    a provider that delivers late still gets its full window for the rest."""
    return state.noticed.get(milestone) or state.times[milestone]


def _abandoned(state: ContactState, now: datetime, settle_after: timedelta) -> bool:
    """Left the queue before any counselor answered: said so by the provider, or inferred
    when a queued contact ended, settled, with no answer and no transfer."""
    times = state.times
    if Milestone.ANSWERED in times or Milestone.FAILED in times:
        return False
    if Milestone.ABANDONED in times:
        return True
    return (
        Milestone.QUEUED in times
        and Milestone.ENDED in times
        and Milestone.TRANSFERRED not in times
        and _settled(state, now, settle_after)
    )


def _failed(state: ContactState) -> bool:
    return Milestone.FAILED in state.times and Milestone.ANSWERED not in state.times


def is_short_abandon(state: ContactState, threshold_seconds: float) -> bool:
    """A caller who left the queue within the center's threshold (default 5 s): counted
    apart from abandons, and no callback (they hung up before anyone could answer)."""
    wait = abandon_wait_seconds(state)
    return wait is not None and wait < threshold_seconds


def abandon_wait_seconds(state: ContactState) -> float | None:
    queued, left = state.times.get(Milestone.QUEUED), abandoned_at(state)
    if state.queue_wait_seconds is not None:
        return state.queue_wait_seconds  # Twilio says how long the caller waited
    return (left - queued).total_seconds() if queued and left else None


def abandoned_at(state: ContactState) -> datetime | None:
    return state.times.get(Milestone.ABANDONED) or state.times.get(Milestone.ENDED)


def _merge(state: ContactState, obs: Observation, *, now: datetime) -> ContactState:
    times, inferred = dict(state.times), set(state.inferred)
    noticed = dict(state.noticed)
    for milestone in obs.times:
        noticed.setdefault(milestone, now)
    for milestone, when in obs.times.items():
        if milestone not in times or milestone in inferred:
            times[milestone] = when  # the first report wins over later ones and over inference
            inferred.discard(milestone)
    wait = state.queue_wait_seconds if obs.queue_wait_seconds is None else obs.queue_wait_seconds
    bridged = state.bridged or obs.bridged
    if wait is not None:
        # Twilio queue results carry a wait, not times: the caller was enqueued when the
        # application picked up (in-progress); a bridged caller was answered after the wait.
        if Milestone.QUEUED not in times:
            times[Milestone.QUEUED] = obs.occurred_at - timedelta(seconds=wait)
            inferred.add(Milestone.QUEUED)
        if bridged and (Milestone.ANSWERED not in times or Milestone.ANSWERED in inferred):
            times[Milestone.ANSWERED] = times[Milestone.QUEUED] + timedelta(seconds=wait)
            inferred.add(Milestone.ANSWERED)
    if times and (Milestone.STARTED not in times or Milestone.STARTED in inferred):
        times[Milestone.STARTED] = min(times.values())
        inferred.add(Milestone.STARTED)
    return replace(
        state,
        times=times,
        inferred=frozenset(inferred),
        noticed=noticed,
        seen=(*state.seen, obs.key),
        queue_wait_seconds=wait,
        bridged=bridged,
        outcome_final=state.outcome_final or obs.outcome_final,
        counselor_id=state.counselor_id or obs.counselor_id,
        counselors=state.counselors
        if obs.counselor_id is None or obs.counselor_id in state.counselors
        else (*state.counselors, obs.counselor_id),
        to_center_id=state.to_center_id or obs.to_center_id,
        failure=state.failure or obs.failure,
        after_work_ended_at=state.after_work_ended_at or obs.after_work_ended_at,
    )


def wait_seconds(state: ContactState) -> float | None:
    queued, answered = state.times.get(Milestone.QUEUED), state.times.get(Milestone.ANSWERED)
    return (answered - queued).total_seconds() if queued and answered else None


def handle_seconds(state: ContactState) -> float | None:
    """Handle time: from the answer to the end of after-contact work where the provider
    reports it (Connect afterContactWorkEndTimestamp, TaskRouter task.completed), else to
    the end of the contact."""
    answered, ended = state.times.get(Milestone.ANSWERED), state.times.get(Milestone.ENDED)
    if not (answered and ended):
        return None
    until = max(ended, state.after_work_ended_at or ended)
    if until < answered:
        # providers' clocks disagree (an answer derived from a queue time reported after the
        # end): no handle time rather than a negative one in the average
        return None
    return (until - answered).total_seconds()


def longest_wait_seconds(state: ContactState) -> float | None:
    """How long this caller waited in the queue, answered or not."""
    return wait_seconds(state) if Milestone.ANSWERED in state.times else abandon_wait_seconds(state)
