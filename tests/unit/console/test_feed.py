"""The live feed's rules, without Kafka: who is told what, and what a reconnect replays."""

from __future__ import annotations

import asyncio
import json

from hotline_console.feed import Feed, FeedEvent, Watcher
from hotline_shared.auth import Principal, Role
from hotline_shared.settings import KafkaSettings

ANA = Principal(sub="ana", role=Role.COUNSELOR, centers=("c1",), agent_ids=("arn:agent/ana",))
SUPERVISOR = Principal(sub="sam", role=Role.SUPERVISOR, centers=("c1",))


def event(seq: int, kind: str, contact: str, center: str = "c1", **data: object) -> FeedEvent:
    return FeedEvent(seq, {"type": f"hotline.{kind}.v1", "subject": contact, "centerid": center,
                           "data": {"contact_id": contact, **data}})  # fmt: skip


def test_a_counselor_is_told_of_a_contact_the_provider_says_they_answered() -> None:
    watcher = Watcher(ANA)
    assert watcher.concerns(event(1, "contact.answered", "k1", counselor_id="arn:agent/ana"))
    assert watcher.concerns(event(2, "risk.assessed", "k1"))  # and what follows on it


def test_a_counselor_is_not_told_of_another_counselors_contact() -> None:
    watcher = Watcher(ANA)
    assert not watcher.concerns(event(1, "contact.answered", "k2", counselor_id="arn:agent/bo"))
    assert not watcher.concerns(event(2, "risk.escalated", "k2"))


def test_nobody_is_told_of_another_centers_contact() -> None:
    for who in (ANA, SUPERVISOR):
        watcher = Watcher(who)
        assert not watcher.concerns(event(1, "contact.answered", "k3", center="c2",
                                          counselor_id="arn:agent/ana"))  # fmt: skip


def test_a_supervisor_is_told_of_everything_in_their_centers() -> None:
    watcher = Watcher(SUPERVISOR)
    assert watcher.concerns(event(1, "contact.queued", "k4"))
    assert watcher.concerns(event(2, "risk.escalated", "k5"))


def test_contacts_known_at_connect_are_followed_from_the_first_event() -> None:
    watcher = Watcher(ANA, mine={"k6"})
    assert watcher.concerns(event(1, "session.opened", "k6"))


def feed() -> Feed:
    return Feed(KafkaSettings(), group_id="unused", capacity=100)


def raw(kind: str, contact: str, **data: object) -> bytes:
    return json.dumps({"type": f"hotline.{kind}.v1", "subject": contact, "centerid": "c1",
                       "data": {"contact_id": contact, **data}}).encode()  # fmt: skip


async def nothing_known() -> list[str]:
    return []


async def signed_in() -> bool:
    return True


def stream_for(live: Feed, who: Principal, last_event_id: str | None) -> object:
    return live.stream(who, last_event_id=last_event_id, known=nothing_known, alive=signed_in)


async def frames(stream: object, count: int) -> list[str]:
    got: list[str] = []
    async for frame in stream:  # type: ignore[attr-defined]
        got.append(frame)
        if len(got) == count:
            return got
    return got


async def test_a_reconnect_replays_what_came_after_the_last_event_seen() -> None:
    live = feed()
    for n in range(3):
        live.publish(raw("contact.answered", f"k{n}", counselor_id="ana"))
    last_seen = f"{live.boot}.1"
    got = await asyncio.wait_for(frames(stream_for(live, ANA, last_seen), 3), 5)
    assert got[0].startswith("retry:")
    assert [f.split("\n")[0] for f in got[1:]] == [f"id: {live.boot}.2", f"id: {live.boot}.3"]


async def test_a_reconnect_this_replica_cannot_place_gets_a_resync() -> None:
    live = feed()
    live.publish(raw("contact.answered", "k1", counselor_id="ana"))
    got = await asyncio.wait_for(frames(stream_for(live, ANA, "another-replica.7"), 2), 5)
    assert "event: resync" in got[1]


async def test_a_reconnect_older_than_the_ring_gets_a_resync() -> None:
    live = Feed(KafkaSettings(), group_id="unused", capacity=100)
    for n in range(150):
        live.publish(raw("contact.queued", f"k{n}"))
    assert live.since(f"{live.boot}.10") is None
    assert live.since(f"{live.boot}.149") is not None


async def test_a_browser_that_falls_behind_is_told_to_resync() -> None:
    live = feed()
    stream = live.stream(SUPERVISOR, last_event_id=None, known=nothing_known, alive=signed_in)
    first = await anext(stream)
    assert first.startswith("retry:")
    pending = asyncio.ensure_future(anext(stream))
    for n in range(1_100):  # more than a browser's queue holds
        live.publish(raw("contact.queued", f"k{n}"))
    frames_seen = [await pending]
    while "resync" not in frames_seen[-1]:
        frames_seen.append(await asyncio.wait_for(anext(stream), 5))
    assert "event: resync" in frames_seen[-1]
    await stream.aclose()


async def test_a_signed_out_browser_loses_the_feed_at_the_next_heartbeat() -> None:
    live = feed()
    state = {"signed_in": True}

    async def alive() -> bool:
        return state["signed_in"]

    stream = live.stream(SUPERVISOR, last_event_id=None, known=nothing_known, alive=alive,
                         heartbeat=0.01)  # fmt: skip
    assert (await anext(stream)).startswith("retry:")
    assert (await asyncio.wait_for(anext(stream), 5)).startswith(": keep-alive")
    state["signed_in"] = False
    try:
        await asyncio.wait_for(anext(stream), 5)
        raise AssertionError("the stream went on after sign-out")
    except StopAsyncIteration:
        pass
    assert not live.watchers


async def test_an_event_published_while_the_users_contacts_load_is_not_missed() -> None:
    live = feed()

    async def slow_known() -> list[str]:
        live.publish(raw("contact.answered", "k9", counselor_id="ana"))  # meanwhile
        return []

    stream = live.stream(ANA, last_event_id=None, known=slow_known, alive=signed_in)
    assert (await anext(stream)).startswith("retry:")
    assert '"subject":"k9"' in await asyncio.wait_for(anext(stream), 5)


async def test_a_replayed_event_is_not_sent_twice() -> None:
    live = feed()
    live.publish(raw("contact.answered", "k1", counselor_id="ana"))
    last_seen = f"{live.boot}.1"

    async def known_and_more() -> list[str]:
        live.publish(raw("contact.answered", "k2", counselor_id="ana"))  # queued and in the ring
        return []

    stream = live.stream(ANA, last_event_id=last_seen, known=known_and_more, alive=signed_in,
                         heartbeat=0.05)  # fmt: skip
    got = [await anext(stream) for _ in range(3)]
    assert [g.split("\n")[0] for g in got[1:]] == [f"id: {live.boot}.2", ": keep-alive"]
    await stream.aclose()
