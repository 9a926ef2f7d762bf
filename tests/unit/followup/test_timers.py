"""The in-memory timer wheel: ownership by shard, the horizon, stale entries, batches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import TopicPartition
from hotline_followup.timers import HANDOFF, SHARDS, Ownership, Timers, shards_of, timer_shard
from hotline_shared.clock import FakeClock

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


class Store:
    """The stored timers (task id → next fire time), as TaskStore.due_soon reads them."""

    def __init__(self) -> None:
        self.timers: dict[str, datetime] = {}
        self.loads: list[tuple[tuple[int, ...], datetime]] = []

    async def due_soon(self, shards: Sequence[int], until: datetime) -> list[tuple[str, datetime]]:
        self.loads.append((tuple(shards), until))
        return [
            (t, at) for t, at in self.timers.items() if timer_shard(t) in shards and at <= until
        ]


def wheel(store: Store, clock: FakeClock, *, batch: int = 100) -> tuple[Timers, list[list[str]]]:
    fired: list[list[str]] = []

    async def fire(due: list[tuple[str, datetime]]) -> int:
        fired.append([task_id for task_id, _ in due])
        return len(due)

    timers = Timers(load=store.due_soon, fire=fire, clock=clock, horizon=60 * S, batch=batch)
    return timers, fired


def ids_in(shards: set[int], n: int, prefix: str = "t") -> list[str]:
    found = [f"{prefix}{k}" for k in range(10_000) if timer_shard(f"{prefix}{k}") in shards]
    return found[:n]


def test_a_shard_is_a_stable_hash_of_the_task_id() -> None:
    assert timer_shard("task-1") == timer_shard("task-1")
    assert {timer_shard(f"t{k}") for k in range(5000)} == set(range(SHARDS))


@pytest.mark.parametrize("count", [1, 2, 3, 6, 7, 256, 300])
def test_partitions_split_the_shards_without_overlap_or_gap(count: int) -> None:
    owners = [set(shards_of({p}, count)) for p in range(count)]
    assert set().union(*owners) == set(range(SHARDS))
    assert sum(len(o) for o in owners) == SHARDS


async def test_owning_shards_loads_their_timers_due_within_the_horizon() -> None:
    clock, store = FakeClock(T0), Store()
    mine, theirs = ids_in({0}, 3), ids_in({1}, 1)
    store.timers = {mine[0]: T0 - S, mine[1]: T0 + 30 * S, mine[2]: T0 + 3600 * S,
                    theirs[0]: T0}  # fmt: skip
    timers, fired = wheel(store, clock)
    await timers.own([0])
    assert len(timers) == 2  # the one an hour away waits for a later load
    assert await timers.fire_due() == 1 and fired == [[mine[0]]]  # overdue: fires at once
    clock.advance(30 * S)
    assert await timers.fire_due() == 1 and fired[-1] == [mine[1]]
    assert await timers.fire_due() == 0


async def test_a_refill_brings_timers_within_reach_and_moves_the_horizon() -> None:
    clock, store = FakeClock(T0), Store()
    [later] = ids_in({0}, 1)
    store.timers = {later: T0 + 90 * S}
    timers, fired = wheel(store, clock)
    await timers.own([0])
    assert len(timers) == 0
    clock.advance(40 * S)
    await timers.refill()
    assert len(timers) == 1 and store.loads[-1] == ((0,), T0 + 100 * S)
    clock.advance(50 * S)
    assert await timers.fire_due() == 1 and fired == [[later]]


async def test_a_write_here_schedules_at_once_another_owners_shard_as_a_later_backup() -> None:
    clock, store = FakeClock(T0), Store()
    timers, fired = wheel(store, clock)
    await timers.own([4])
    [mine], [other] = ids_in({4}, 1), ids_in({5}, 1)
    timers.schedule(mine, T0 + 2 * S)
    timers.schedule(other, T0 + 2 * S)
    timers.schedule("far", T0 + 3600 * S)  # beyond the horizon: the owner loads it later
    assert len(timers) == 2
    clock.advance(2 * S)
    assert await timers.fire_due() == 1 and fired == [[mine]]
    clock.advance(HANDOFF)  # the owner had its chance first
    assert await timers.fire_due() == 1 and fired[-1] == [other]


async def test_a_rescheduled_timer_fires_once_at_its_new_time() -> None:
    clock, store = FakeClock(T0), Store()
    timers, fired = wheel(store, clock)
    await timers.own(range(SHARDS))
    timers.schedule("a", T0 + 5 * S)
    timers.schedule("a", T0 + 10 * S)  # an attempt moved it: the old heap entry is stale
    clock.advance(5 * S)
    assert await timers.fire_due() == 0
    timers.schedule("a", T0 + 10 * S)  # the same time again (a reload): still one entry
    clock.advance(5 * S)
    assert await timers.fire_due() == 1 and fired == [["a"]]
    timers.schedule("b", T0 + 11 * S)
    timers.schedule("b", None)  # closed: nothing left to fire
    clock.advance(S)
    assert await timers.fire_due() == 0


async def test_due_timers_fire_soonest_first_in_batches() -> None:
    clock, store = FakeClock(T0), Store()
    timers, fired = wheel(store, clock, batch=2)
    await timers.own(range(SHARDS))
    for n in (3, 1, 4, 2, 5):
        timers.schedule(f"t{n}", T0 + n * S)
    clock.advance(10 * S)
    assert await timers.fire_due() == 5
    assert fired == [["t1", "t2"], ["t3", "t4"], ["t5"]]


async def test_losing_shards_forgets_their_timers_and_the_new_owner_loads_them() -> None:
    clock, store = FakeClock(T0), Store()
    a, b = ids_in({0}, 1), ids_in({1}, 1)
    store.timers = {a[0]: T0 + S, b[0]: T0 + S}
    first, fired_first = wheel(store, clock)
    second, fired_second = wheel(store, clock)
    await first.own([0, 1])
    await second.own([])
    assert len(first) == 2
    # a rebalance (the first replica died or shrank): shard 1 moves to the second replica
    await first.own([0])
    await second.own([1])
    clock.advance(S)
    assert await first.fire_due() == 1 and fired_first == [a]
    assert await second.fire_due() == 1 and fired_second == [b]


async def test_partition_assignment_decides_the_shards() -> None:
    clock, store = FakeClock(T0), Store()
    timers, _ = wheel(store, clock)

    async def three(_topic: str) -> int:
        return 3

    listener = Ownership(lambda: timers, three)
    await listener.on_partitions_assigned({TopicPartition("contacts", 1)})
    assert timers.owned == frozenset(shards_of({1}, 3)) and 1 in timers.owned
    await listener.on_partitions_revoked({TopicPartition("contacts", 1)})
    assert timers.owned == frozenset()
    await listener.on_partitions_assigned(set())
    assert timers.owned == frozenset()


async def test_a_batch_the_database_failed_is_tried_again_at_the_next_tick() -> None:
    clock, store = FakeClock(T0), Store()
    failing = True
    fired: list[list[str]] = []

    async def fire(due: list[tuple[str, datetime]]) -> int:
        if failing:
            raise ConnectionError("database unreachable")
        fired.append([task_id for task_id, _ in due])
        return len(due)

    timers = Timers(load=store.due_soon, fire=fire, clock=clock, horizon=60 * S, batch=10)
    await timers.own(range(SHARDS))
    timers.schedule("a", T0)
    with pytest.raises(ConnectionError):
        await timers.fire_due()
    assert len(timers) == 1
    failing = False
    assert await timers.fire_due() == 1 and fired == [["a"]]
