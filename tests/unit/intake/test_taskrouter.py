"""Twilio TaskRouter: the answer in real time, merged with the voice callbacks of the call."""

from __future__ import annotations

import itertools
import random

import pytest
from hotline_intake.adapters.telephony import taskrouter, twilio
from hotline_intake.domain.contact import Milestone, Observation, new_contact, observe, settle

from tests.unit.intake import sequences as seq

M = Milestone


def parsed(kind: str, form: dict[str, str]) -> Observation | None:
    parse = taskrouter.parse if kind == "taskrouter" else twilio.parse
    return parse(form, received_at=seq.at(900))


OBS = [o for kind, form in seq.twilio_taskrouter_answered() if (o := parsed(kind, form))]


def run(obs: list[Observation], *, now_s: float = 1000) -> tuple[list[Milestone], object]:
    state = new_contact("contact-1", obs[0])
    emitted: list[Milestone] = []
    for o in obs:
        state, out = observe(state, o, now=seq.at(now_s))
        emitted += out
    state, out = settle(state, now=seq.at(3600 * 2))
    return emitted + out, state


def test_the_answer_comes_while_the_caller_is_on_the_line() -> None:
    """In time order: the session can open at reservation.accepted, long before completed."""
    live = OBS[:4]  # ringing, in-progress, task.created, reservation.accepted
    state = new_contact("contact-1", live[0])
    emitted: list[Milestone] = []
    for o in live:
        state, out = observe(state, o, now=seq.at(17))
        emitted += out
    assert emitted == [M.STARTED, M.QUEUED, M.ANSWERED]
    assert state.counselor_id == "counselor-7"
    assert state.times[M.ANSWERED] == seq.at(16)


def test_shuffled_and_duplicated_the_call_yields_each_milestone_once() -> None:
    rng = random.Random(5)
    orderings = [rng.sample(OBS, len(OBS)) for _ in range(500)]
    orderings += [list(p) for p in itertools.islice(itertools.permutations(OBS), 500)]
    for ordering in orderings:
        doubled = ordering + rng.sample(ordering, len(ordering))
        emitted, state = run(doubled)
        assert emitted == [M.STARTED, M.QUEUED, M.ANSWERED, M.ENDED], [o.key for o in ordering]
        assert state.counselor_id == "counselor-7"  # type: ignore[attr-defined]


def test_a_task_canceled_in_the_queue_is_an_abandon() -> None:
    sid = "CA-tr-gone"
    obs = [o for kind, form in [
        ("voice", seq.twilio_status(sid, "in-progress", 0, 0)),
        ("taskrouter", seq.taskrouter_event(sid, "task.created", 0, 1)),
        ("taskrouter", seq.taskrouter_event(sid, "task.canceled", 40, 2)),
        ("voice", seq.twilio_status(sid, "completed", 1, 41)),
    ] if (o := parsed(kind, form))]  # fmt: skip
    for ordering in itertools.permutations(obs):
        emitted, _ = run(list(ordering), now_s=60)
        assert emitted == [M.STARTED, M.QUEUED, M.ABANDONED]


def test_events_we_do_not_track_and_non_voice_tasks_are_ignored() -> None:
    assert taskrouter.parse(seq.taskrouter_event("CA1", "worker.activity.update", 0, 1),
                            received_at=seq.at(0)) is None  # fmt: skip
    chat = {
        **seq.taskrouter_event("CA1", "task.created", 0, 1),
        "TaskAttributes": '{"channel": "chat"}',
    }
    assert taskrouter.parse(chat, received_at=seq.at(0)) is None


@pytest.mark.parametrize(
    ("change", "field"),
    [({"EventType": ""}, "EventType"), ({"TaskAttributes": "{not json"}, "TaskAttributes"),
     ({"TaskAttributes": "[1]"}, "TaskAttributes"), ({"Timestamp": "yesterday"}, "Timestamp")],
)  # fmt: skip
def test_a_malformed_event_names_its_field(change: dict[str, str], field: str) -> None:
    form = {**seq.taskrouter_event("CA1", "task.created", 0, 1), **change}
    with pytest.raises(twilio.TwilioPayloadError) as bad:
        taskrouter.parse(form, received_at=seq.at(0))
    assert bad.value.field == field
