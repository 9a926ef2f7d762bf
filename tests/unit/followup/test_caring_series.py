"""Caring Contacts as a message series: sending, retries, delivery reports, opt-out. Pure."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hotline_followup.domain.caring import (
    HANDED_OVER,
    OPEN,
    STOP_WORDS,
    Channel,
    MessageStatus,
    Series,
    SeriesSpec,
    SeriesStatus,
    begin_send,
    delivery_reported,
    due_message,
    expire,
    is_stop_reply,
    new_series,
    next_fire_at,
    opt_out,
    send_failed,
    sent,
    skipped,
    texted,
)  # fmt: skip

T0 = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CLAIM = timedelta(minutes=2)


def series(n: int = 3) -> Series:
    return new_series(SeriesSpec(id="s1", contact_id="c1", center_id="center-01", session_id="sess",
                                 caller_token="tok", channel=Channel.SMS, closed_at=T0,
                                 offsets=[DAY * (i + 1) for i in range(n)], window=DAY,
                                 policy_version="v"))  # fmt: skip


def statuses(s: Series) -> list[MessageStatus]:
    return [m.status for m in s.messages]


def send(s: Series, index: int, at: datetime) -> Series:
    return sent(begin_send(s, index, now=at, claim=CLAIM), index, channel=Channel.SMS,
                provider_id=f"SM{index}", now=at)  # fmt: skip


def test_messages_come_due_on_the_cadence_one_at_a_time() -> None:
    s = series()
    assert next_fire_at(s) == T0 + DAY
    assert due_message(s, T0 + DAY - timedelta(seconds=1)) is None
    first = due_message(s, T0 + DAY)
    assert first is not None and first.index == 0
    s = send(s, 0, T0 + DAY)
    assert statuses(s) == ["sent", "pending", "pending"] and next_fire_at(s) == T0 + 2 * DAY
    assert s.messages[0].sent_at == T0 + DAY and s.messages[0].provider_id == "SM0"


def test_a_claimed_message_is_left_alone_until_its_claim_ends_then_sent_again() -> None:
    s = begin_send(series(), 0, now=T0 + DAY, claim=CLAIM)
    assert statuses(s)[0] is MessageStatus.SENDING and s.messages[0].tries == 1
    assert due_message(s, T0 + DAY + CLAIM - timedelta(seconds=1)) is None
    again = due_message(s, T0 + DAY + CLAIM)  # the replica that claimed it died
    assert again is not None and again.index == 0


def test_the_series_completes_once_nothing_is_left_and_nothing_is_ever_missed() -> None:
    s = series(2)
    s = send(s, 0, T0 + DAY)
    assert s.status is SeriesStatus.ACTIVE
    s = skipped(s, 1, reason="no number on record")
    assert s.status is SeriesStatus.COMPLETED and next_fire_at(s) is None
    assert "missed" not in {str(m.status) for m in s.messages}


def test_a_transient_failure_backs_off_within_the_window_then_fails() -> None:
    s = begin_send(series(1), 0, now=T0 + DAY, claim=CLAIM)
    s = send_failed(s, 0, now=T0 + DAY, permanent=False, reason="twilio answered 503")
    message = s.messages[0]
    assert message.status is MessageStatus.PENDING and message.next_try_at == T0 + DAY + timedelta(
        seconds=2
    )
    late = T0 + 2 * DAY  # the window (a day) is gone
    s = send_failed(
        begin_send(s, 0, now=late, claim=CLAIM), 0, now=late, permanent=False, reason="x"
    )
    assert s.messages[0].status is MessageStatus.FAILED and s.status is SeriesStatus.COMPLETED


def test_backoff_never_passes_the_end_of_the_window() -> None:
    s = series(1)
    at = T0 + 2 * DAY - timedelta(seconds=1)
    s = begin_send(s, 0, now=at, claim=CLAIM)
    s = send_failed(s, 0, now=at, permanent=False, reason="x")
    assert s.messages[0].next_try_at == T0 + 2 * DAY


def test_a_permanent_failure_fails_at_once() -> None:
    s = begin_send(series(1), 0, now=T0 + DAY, claim=CLAIM)
    s = send_failed(s, 0, now=T0 + DAY, permanent=True, reason="twilio refused (400, code 21211)")
    assert s.messages[0].status is MessageStatus.FAILED and s.messages[0].reason.startswith(
        "twilio"
    )


def test_delivery_reports_settle_a_sent_message_and_nothing_else() -> None:
    s = send(series(), 0, T0 + DAY)
    assert statuses(delivery_reported(s, "SM0", "delivered"))[0] is MessageStatus.DELIVERED
    assert statuses(delivery_reported(s, "SM0", "undelivered"))[0] is MessageStatus.UNDELIVERED
    assert statuses(delivery_reported(s, "SM0", "failed"))[0] is MessageStatus.UNDELIVERED
    assert delivery_reported(s, "SM0", "sent") == s  # an intermediate state
    assert delivery_reported(s, "SM-other", "delivered") == s


@pytest.mark.parametrize("done", range(4))
def test_opting_out_cancels_every_message_not_yet_sent(done: int) -> None:
    s = series()
    for i in range(done):
        s = send(s, i, T0 + DAY * (i + 1))
    stopped = opt_out(s, by="caller-reply", now=T0 + DAY * 4)
    assert statuses(stopped)[:done] == [MessageStatus.SENT] * done
    assert statuses(stopped)[done:] == [MessageStatus.CANCELLED] * (3 - done)
    assert next_fire_at(stopped) is None and due_message(stopped, T0 + DAY * 365) is None
    assert stopped.status is SeriesStatus.OPTED_OUT and stopped.opted_out_by == "caller-reply"
    assert opt_out(stopped, by="worker", now=T0 + DAY * 5) == stopped  # twice: nothing new


def test_a_message_in_flight_when_the_person_opts_out_is_recorded_as_sent() -> None:
    s = begin_send(series(), 0, now=T0 + DAY, claim=CLAIM)
    s = opt_out(s, by="caller-reply", now=T0 + DAY)
    s = sent(s, 0, channel=Channel.SMS, provider_id="SM0", now=T0 + DAY)
    assert statuses(s) == ["sent", "cancelled", "cancelled"] and s.status is SeriesStatus.OPTED_OUT
    failed = send_failed(begin_send(series(), 0, now=T0, claim=CLAIM), 0, now=T0, permanent=True,
                         reason="x")  # fmt: skip
    assert opt_out(failed, by="w", now=T0).messages[0].status is MessageStatus.FAILED


def test_every_interleaving_of_sends_failures_and_an_opt_out_ends_in_a_sound_state() -> None:
    """Exhaustive over short histories: a message is never both open and stopped, opted-out
    series have nothing left to send, and a completed series has nothing open."""
    steps = ["send", "fail", "skip", "stop", "report"]
    for history in itertools.product(steps, repeat=4):
        s = series(2)
        at = T0 + DAY
        for step in history:
            message = due_message(s, at + 2 * DAY)
            if step == "stop":
                s = opt_out(s, by="w", now=at)
            elif step == "report":
                s = delivery_reported(s, "SM0", "delivered")
            elif message is not None:
                claimed = begin_send(s, message.index, now=at + 2 * DAY, claim=CLAIM)
                if step == "send":
                    s = sent(claimed, message.index, channel=Channel.SMS,
                             provider_id=f"SM{message.index}", now=at)  # fmt: skip
                elif step == "fail":
                    s = send_failed(
                        claimed, message.index, now=at + 3 * DAY, permanent=False, reason="x"
                    )
                else:
                    s = skipped(claimed, message.index, reason="no number on record")
        open_left = any(m.status in OPEN for m in s.messages)
        if s.status is SeriesStatus.OPTED_OUT:
            assert not open_left and due_message(s, T0 + DAY * 999) is None, history
        if s.status is SeriesStatus.COMPLETED:
            assert not open_left, history
        if s.status is SeriesStatus.ACTIVE:
            assert open_left, history
        for m in s.messages:
            assert (m.provider_id is not None) == (m.status in HANDED_OVER), (history, m)


@pytest.mark.parametrize("word", sorted(STOP_WORDS))
def test_the_standard_opt_out_words_stop_in_any_case(word: str) -> None:
    assert is_stop_reply(word) and is_stop_reply(f"  {word.upper()}. ")


@pytest.mark.parametrize("body", ["", "thanks", "stop calling me maybe", "start", "help", "yes"])
def test_other_replies_do_not_stop(body: str) -> None:
    assert not is_stop_reply(body)


def test_a_message_whose_window_passed_is_failed_not_sent_late_in_a_burst() -> None:
    s = series(3)
    after_outage = T0 + DAY * 2 + timedelta(hours=1)  # message 0's window (a day) is gone
    s = expire(s, now=after_outage)
    assert (
        statuses(s) == ["failed", "pending", "pending"] and s.messages[0].reason == "window passed"
    )
    first = due_message(s, after_outage)
    assert first is not None and first.index == 1  # only the one still in its window
    assert expire(s, now=after_outage) == s  # nothing new
    done = expire(s, now=T0 + DAY * 10)
    assert done.status is SeriesStatus.COMPLETED and "sent" not in statuses(done)


def test_the_numbers_texted_are_remembered_so_their_stop_counts() -> None:
    s = series(1)
    assert s.tokens == {"tok"}
    s = texted(s, "tok-later-number")
    assert s.tokens == {"tok", "tok-later-number"} and texted(s, "tok") == s
    anonymous = new_series(SeriesSpec(id="s2", contact_id="c2", center_id="center-01", session_id="x",
                                      caller_token=None, channel=Channel.SMS, closed_at=T0,
                                      offsets=[DAY], window=DAY, policy_version="v"))  # fmt: skip
    assert anonymous.tokens == frozenset() and texted(anonymous, "t").tokens == {"t"}
