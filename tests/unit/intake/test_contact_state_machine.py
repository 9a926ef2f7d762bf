"""The contact state machine over every ordering of each provider's realistic sequences."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from hotline_intake.adapters.telephony import connect, pbx, twilio
from hotline_intake.domain.contact import (
    ContactState,
    Milestone,
    Observation,
    new_contact,
    observe,
    settle,
    wait_seconds,
)
from hotline_shared import twilio as signatures

from tests.unit.intake import sequences as seq

M = Milestone
ANSWERED = [M.STARTED, M.QUEUED, M.ANSWERED, M.ENDED]
ABANDONED = [M.STARTED, M.QUEUED, M.ABANDONED]
TRANSFERRED = [M.STARTED, M.QUEUED, M.TRANSFERRED, M.ENDED]
LATE = seq.at(3600 * 2)


def observations(provider: str, scenario: str) -> list[Observation]:
    arrive = seq.at(1000)
    if provider == "twilio":
        forms = {"answered": seq.twilio_answered, "abandoned": seq.twilio_abandoned,
                 "transferred": seq.twilio_transferred}[scenario]()  # fmt: skip
        # queue results carry no timestamp: they arrive with the call's last status callback
        last = max(
            twilio.parse(f, received_at=arrive).occurred_at for f in forms if "Timestamp" in f
        )  # type: ignore[union-attr]
        return [o for f in forms if (o := twilio.parse(f, received_at=last))]
    if provider == "connect":
        bodies = {"answered": seq.connect_answered, "abandoned": seq.connect_abandoned}[scenario]()
        return [o for b in bodies if (o := connect.parse(b, received_at=arrive))]
    if provider == "genesys":
        outcome = {"answered": "ANSWERED", "abandoned": "ABANDON", "transferred": "FLOW_OUT"}[
            scenario
        ]
        events = [pbx.from_genesys(t, b) for t, b in seq.genesys("conv-1", outcome)]
    elif provider == "ami":
        events = [
            pbx.from_ami(e, received_at=arrive) for e in seq.ami("1.1", scenario == "abandoned")
        ]
    elif provider == "esl":
        events = [pbx.from_esl(e) for e in seq.esl("uuid-1", scenario == "answered")]
    else:
        events = [pbx.from_ari(e) for e in seq.ari("ari-1")]
    return [e.observation() for e in events if e is not None]


def run(obs: list[Observation], *, now: datetime) -> tuple[ContactState, list[Milestone]]:
    state = new_contact("contact-1", obs[0])
    emitted: list[Milestone] = []
    for o in obs:
        state, out = observe(state, o, now=now)
        emitted += out
    state, out = settle(state, now=LATE)  # the periodic settle job, long after
    return state, emitted + out


CASES = [
    ("twilio", "answered", ANSWERED), ("twilio", "abandoned", ABANDONED),
    ("twilio", "transferred", TRANSFERRED),
    ("connect", "answered", ANSWERED), ("connect", "abandoned", ABANDONED),
    ("genesys", "answered", ANSWERED), ("genesys", "abandoned", ABANDONED),
    ("genesys", "transferred", TRANSFERRED),
    ("ami", "answered", ANSWERED), ("ami", "abandoned", ABANDONED),
    ("esl", "answered", ANSWERED), ("esl", "abandoned", ABANDONED),
    ("ari", "answered", ANSWERED),
]  # fmt: skip


@pytest.mark.parametrize(("provider", "scenario", "expected"), CASES)
def test_every_ordering_yields_the_same_events_in_canonical_order(
    provider: str, scenario: str, expected: list[Milestone]
) -> None:
    obs = observations(provider, scenario)
    # Arrival time: just after the last event happened (providers deliver within seconds).
    now = max(max(o.times.values(), default=o.occurred_at) for o in obs) + timedelta(seconds=1)
    for ordering in itertools.permutations(obs):
        state, emitted = run(list(ordering), now=now)
        assert emitted == expected, [o.key for o in ordering]
        assert state.status == expected[-1]


@pytest.mark.parametrize(("provider", "scenario", "expected"), CASES)
def test_duplicates_are_recorded_once(
    provider: str, scenario: str, expected: list[Milestone]
) -> None:
    obs = observations(provider, scenario)
    doubled = [o for o in obs for _ in range(2)] + obs
    now = seq.at(5000)
    state, emitted = run(doubled, now=now)
    assert emitted == expected
    assert len(state.seen) == len(obs)


def test_twilio_answer_time_is_queue_time_after_pickup() -> None:
    state, _ = run(observations("twilio", "answered"), now=seq.at(901))
    assert state.times[M.QUEUED] == seq.at(2)
    assert wait_seconds(state) == 14


def test_completed_before_the_queue_result_holds_ended_back_until_the_outcome() -> None:
    obs = {
        o.key.split(":")[0] + o.key.split(":")[-1]: o for o in observations("twilio", "answered")
    }
    state = new_contact("c", obs["statuscompleted"])
    state, first = observe(state, obs["statuscompleted"], now=seq.at(901))
    assert first == [M.STARTED]  # ended is held back: the queue result may still come
    state, second = observe(state, obs["queuebridged"], now=seq.at(902))
    assert second == [M.QUEUED, M.ANSWERED, M.ENDED]


def test_an_overtaken_milestone_is_never_emitted_backwards() -> None:
    obs = observations("twilio", "answered")
    completed = next(o for o in obs if o.key.endswith("completed"))
    bridged = next(o for o in obs if o.key.startswith("queue"))
    state = new_contact("c", completed)
    state, _ = observe(state, completed, now=seq.at(901))
    state, late = settle(state, now=seq.at(901 + 600))  # settle window passed: ended
    assert late == [M.ENDED]
    state, after = observe(state, bridged, now=seq.at(2000))
    assert after == []  # forward-only
    assert state.status == M.ENDED


def test_queued_and_ended_without_answer_is_inferred_abandoned_after_settling() -> None:
    obs = observations("esl", "abandoned")
    _, emitted = run(obs, now=seq.at(41))
    assert emitted == ABANDONED


def test_never_connected_call_ends_at_once_without_abandonment() -> None:
    form = seq.twilio_status("CA-busy", "no-answer", 0, 5)
    o = twilio.parse(form, received_at=seq.at(6))
    assert o is not None
    _, emitted = observe(new_contact("c", o), o, now=seq.at(6))
    assert emitted == [M.STARTED, M.ENDED]


def test_outbound_and_child_legs_are_not_contacts() -> None:
    child = {**seq.twilio_status("CA-child", "in-progress", 0, 0), "ParentCallSid": "CA-parent"}
    outbound = {**seq.twilio_status("CA-out", "in-progress", 0, 0), "Direction": "outbound-api"}
    assert twilio.parse(child, received_at=seq.T0) is None
    assert twilio.parse(outbound, received_at=seq.T0) is None


@pytest.mark.parametrize("caller", ["anonymous", "+266696687", "", "Restricted"])
def test_withheld_twilio_numbers_are_not_reachable(caller: str) -> None:
    o = twilio.parse(seq.twilio_status("CA-w", "in-progress", 0, 0, caller), received_at=seq.T0)
    assert o is not None and o.caller_number is None and o.caller_withheld


def test_twilio_documented_signature_example() -> None:
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}  # fmt: skip
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert signatures.signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert signatures.valid_signature("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not signatures.valid_signature(
        "12345", url, {**params, "Digits": "9"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )


def test_pbx_signature_window() -> None:
    body = b'{"x":1}'
    header = pbx.sign("s3cret", body, int(seq.T0.timestamp()))
    assert pbx.verify("s3cret", body, header, now=seq.T0 + timedelta(seconds=299))
    assert not pbx.verify("s3cret", body, header, now=seq.T0 + timedelta(seconds=301))
    assert not pbx.verify("other", body, header, now=seq.T0)
    assert not pbx.verify("s3cret", b'{"x":2}', header, now=seq.T0)
    assert not pbx.verify("s3cret", body, "garbage", now=seq.T0)


def test_connect_keys_match_case_insensitively_and_unknown_fields_are_ignored() -> None:
    body = seq.connect_answered()[3]
    o = connect.parse(body, received_at=seq.T0)
    assert o is not None
    assert o.times[M.ANSWERED] == seq.at(20) and o.times[M.ENDED] == seq.at(800)
    assert o.counselor_id == "arn:agent/7"


def test_every_counselor_who_answered_a_leg_is_kept_for_access() -> None:
    from hotline_intake.domain.contact import Observation, new_contact, observe
    from hotline_shared.events import Provider

    t0 = seq.at(1000)

    def answered(key: str, counselor: str | None, seconds: int) -> Observation:
        return Observation(provider=Provider.ASTERISK, provider_contact_id="call-1", key=key,
                           occurred_at=t0 + timedelta(seconds=seconds),
                           times={Milestone.ANSWERED: t0 + timedelta(seconds=seconds)},
                           counselor_id=counselor)  # fmt: skip

    first = answered("a", "ext-201", 10)
    state = new_contact("c-1", first)
    for obs in (
        first,
        answered("b", "ext-305", 300),
        answered("c", None, 400),
        answered("d", "ext-201", 500),
    ):
        state, _ = observe(state, obs, now=t0 + timedelta(seconds=600))
    assert state.counselors == ("ext-201", "ext-305")  # the first, and the one transferred to
    assert state.counselor_id == "ext-201"
