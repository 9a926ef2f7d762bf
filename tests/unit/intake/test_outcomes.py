"""Telephony outcomes classified truthfully: failed contacts and short abandons."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest
from hotline_intake.adapters.telephony import connect, pbx, taskrouter, twilio
from hotline_intake.domain.contact import (
    Milestone,
    Observation,
    abandon_wait_seconds,
    is_short_abandon,
    new_contact,
    observe,
    settle,
)

from tests.unit.intake import sequences as seq

M = Milestone


def run(obs: list[Observation]) -> tuple[list[Milestone], str | None]:
    state = new_contact("contact-1", obs[0])
    emitted: list[Milestone] = []
    now = seq.at(30)
    for o in obs:
        state, out = observe(state, o, now=now)
        emitted += out
    state, out = settle(state, now=seq.at(3600 * 2))
    return emitted + out, state.failure


@pytest.mark.parametrize("result", ["queue-full", "error", "system-error"])
def test_a_twilio_queue_failure_is_failed_never_abandoned_in_every_ordering(result: str) -> None:
    forms = seq.twilio_failed(result=result)
    obs = [o for f in forms if (o := twilio.parse(f, received_at=seq.at(3)))]
    for ordering in itertools.permutations(obs):
        emitted, failure = run(list(ordering))
        assert emitted == [M.STARTED, M.QUEUED, M.FAILED], [o.key for o in ordering]
        assert failure == result


def test_a_connect_telecom_problem_in_the_queue_is_failed_in_every_ordering() -> None:
    obs = [o for b in seq.connect_failed() if (o := connect.parse(b, received_at=seq.at(30)))]
    for ordering in itertools.permutations(obs):
        emitted, failure = run(list(ordering))
        assert emitted == [M.STARTED, M.QUEUED, M.FAILED]
        assert failure == "connect-telecom_problem"


def test_a_genesys_system_disconnect_in_the_queue_is_failed() -> None:
    events = [pbx.from_genesys(t, b) for t, b in seq.genesys("conv-9", "ABANDON")]
    patched = [e if e is None or e.kind is not M.ABANDONED else None for e in events]
    failed = pbx.from_genesys("v2.detail.events.conversation.conv-9.acd.end", {
        "eventTime": seq.at(40).isoformat(), "conversationId": "conv-9", "participantId": "p",
        "acdOutcome": "ABANDON", "disconnectType": "system", "mediaType": "VOICE"})  # fmt: skip
    assert failed is not None and failed.kind is M.FAILED
    obs = [e.observation() for e in [*patched, failed] if e is not None]
    emitted, failure = run(obs)
    assert M.FAILED in emitted and M.ABANDONED not in emitted and failure == "genesys-system"


def test_a_pbx_bridge_may_post_an_explicit_failure() -> None:
    event = pbx.PbxEvent(event_id="e1", call_id="c1", provider="asterisk", kind=M.FAILED,
                         occurred_at=seq.at(5), failure="queue-full")  # fmt: skip
    assert event.observation().failure == "queue-full"


@pytest.mark.parametrize(("wait", "short"), [(0, True), (4.99, True), (5, False), (45, False)])
def test_a_caller_who_leaves_within_the_threshold_is_a_short_abandon(
    wait: float, short: bool
) -> None:
    obs = [o for f in seq.twilio_abandoned() if (o := twilio.parse(f, received_at=seq.at(46)))]
    state = new_contact("contact-1", obs[0])
    for o in obs:
        state, _ = observe(state, o, now=seq.at(50))
    state = replace(state, queue_wait_seconds=wait)
    assert abandon_wait_seconds(state) == wait
    assert is_short_abandon(state, 5.0) is short


def test_without_a_provider_wait_the_queue_times_decide() -> None:
    obs = [o for b in seq.connect_abandoned() if (o := connect.parse(b, received_at=seq.at(60)))]
    state = new_contact("contact-1", obs[0])
    for o in obs:
        state, _ = observe(state, o, now=seq.at(60))
    assert abandon_wait_seconds(state) == 47  # queued at 3 s, left at 50 s
    assert not is_short_abandon(state, 5.0) and is_short_abandon(state, 60.0)
    assert abandon_wait_seconds(replace(state, times={})) is None
    assert timedelta(seconds=47)  # (the threshold is the center's: centers.yaml)


def test_handle_time_runs_to_the_end_of_after_contact_work_where_known() -> None:
    from hotline_intake.domain.contact import handle_seconds

    obs = [o for kind, form in seq.twilio_taskrouter_answered()
           if (o := (taskrouter.parse if kind == "taskrouter" else twilio.parse)(form, received_at=seq.at(900)))]  # fmt: skip
    state = new_contact("contact-1", obs[0])
    for o in obs:
        state, _ = observe(state, o, now=seq.at(1000))
    assert state.after_work_ended_at == seq.at(960)  # TaskRouter task.completed
    assert handle_seconds(state) == 960 - 16  # answered at 16 s (reservation.accepted)
    assert handle_seconds(replace(state, after_work_ended_at=None)) == 900 - 16
    # an answer time after the end (clocks that disagree) gives no handle time, never a negative
    late = {**state.times, Milestone.ANSWERED: seq.at(990)}
    assert handle_seconds(replace(state, times=late, after_work_ended_at=None)) is None
    assert handle_seconds(replace(state, times=late)) is None


def test_connect_after_contact_work_end_is_read() -> None:
    body = seq.connect_event("c-acw", "COMPLETED", 700, 9, queued=True, agent_at=10, ended_at=600)
    body["detail"]["AgentInfo"]["afterContactWorkEndTimestamp"] = seq.at(650).isoformat()
    obs = connect.parse(body, received_at=seq.at(700))
    assert obs is not None and obs.after_work_ended_at == seq.at(650)


def test_the_longest_wait_counts_answered_and_abandoned_callers() -> None:
    from hotline_intake.domain.contact import longest_wait_seconds

    answered = [o for f in seq.twilio_answered() if (o := twilio.parse(f, received_at=seq.at(900)))]
    left = [o for f in seq.twilio_abandoned() if (o := twilio.parse(f, received_at=seq.at(46)))]
    waits = []
    for obs in (answered, left):
        state = new_contact("contact-1", obs[0])
        for o in obs:
            state, _ = observe(state, o, now=seq.at(1000))
        waits.append(longest_wait_seconds(state))
    assert waits == [14, 45]


def test_a_failed_contact_is_terminal_and_waits_for_nothing_more() -> None:
    for obs in (
        [o for f in seq.twilio_failed() if (o := twilio.parse(f, received_at=seq.at(3)))],
        [o for b in seq.connect_failed() if (o := connect.parse(b, received_at=seq.at(30)))],
    ):
        state = new_contact("contact-1", obs[0])
        for o in obs:
            state, _ = observe(state, o, now=seq.at(30))
        assert state.status is M.FAILED and state.terminal
