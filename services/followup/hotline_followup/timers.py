"""Due-soon timers in memory, per owned shard: the cost of a timer round does not grow with
the number of pending tasks.

A task's timer is persisted in its document (`next_fire_at`, with `timer_shard`, a fixed
hash of its id). Shard s belongs to the replica that holds partition s mod N of the
contacts topic in the follow-up consumer group, so Kafka's group membership decides who
owns which timers, and a replica that dies loses them to the survivors at the next
rebalance (the consumer session timeout). On assignment a replica loads its shards' timers
due within the horizon into a heap, and reloads them every half horizon; a write through
this replica schedules the task's new time at once, owned or not. Firing twice is harmless:
every fire is a write conditional on the task's version.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta

import structlog
from aiokafka import ConsumerRebalanceListener, TopicPartition
from hotline_shared.clock import Clock

log = structlog.get_logger()

SHARDS = 256  # fixed forever: it is stored in every task; partitions map onto it
HANDOFF = timedelta(seconds=1)

Load = Callable[[Sequence[int], datetime], Awaitable[list[tuple[str, datetime]]]]
Fire = Callable[[list[tuple[str, datetime]]], Awaitable[int]]


def timer_shard(task_id: str) -> int:
    return zlib.crc32(task_id.encode()) % SHARDS


def shards_of(partitions: Collection[int], partition_count: int) -> list[int]:
    """The shards that the given partitions of an N-partition topic own."""
    return [s for s in range(SHARDS) if s % partition_count in partitions]


class Timers:
    def __init__(
        self, *, load: Load, fire: Fire, clock: Clock, horizon: timedelta, batch: int
    ) -> None:
        self._load = load
        self._fire = fire
        self.clock = clock
        self.horizon = horizon
        self.batch = batch
        self._heap: list[tuple[datetime, str]] = []
        self._at: dict[str, datetime] = {}  # the live entry per task; older heap entries are stale
        self.owned: frozenset[int] = frozenset()
        self._loaded_until = clock.now() + horizon

    def __len__(self) -> int:
        return len(self._at)

    def schedule(self, task_id: str, at: datetime | None) -> None:
        """The task's timer is now `at` (None: nothing left to fire). A shard another replica
        owns is fired here only as a backup, HANDOFF later: its owner, once its next load
        has the task, fires first, and this replica then finds the timer moved."""
        if at is None or at > self._loaded_until:
            self._at.pop(task_id, None)  # past the horizon: the owner's next load has it
            return
        if timer_shard(task_id) not in self.owned:
            at += HANDOFF
        if self._at.get(task_id) != at:
            self._at[task_id] = at
            heapq.heappush(self._heap, (at, task_id))

    async def own(self, shards: Collection[int]) -> None:
        """Ownership changed: forget the shards lost, load the ones gained."""
        gained = sorted(set(shards) - self.owned)
        lost = self.owned - set(shards)
        self.owned = frozenset(shards)
        if lost:
            self._at = {t: at for t, at in self._at.items() if timer_shard(t) not in lost}
            self._heap = [(at, t) for t, at in self._at.items()]
            heapq.heapify(self._heap)
        if gained:
            await self._fill(gained, self._loaded_until)
        log.info("timers.owned", shards=len(self.owned), gained=len(gained), lost=len(lost),
                 in_memory=len(self._at))  # fmt: skip

    async def refill(self) -> None:
        """Every half horizon: load the owned shards' timers due within the next horizon
        (tasks changed by other replicas, and the ones that have come within reach)."""
        self._loaded_until = self.clock.now() + self.horizon
        if self.owned:
            await self._fill(sorted(self.owned), self._loaded_until)

    async def _fill(self, shards: Sequence[int], until: datetime) -> None:
        for task_id, at in await self._load(shards, until):
            self.schedule(task_id, at)

    async def fire_due(self) -> int:
        """Fire what has come due, in batches, soonest first; the number of timers fired."""
        fired = 0
        while True:
            now = self.clock.now()
            due: list[tuple[str, datetime]] = []
            while self._heap and self._heap[0][0] <= now and len(due) < self.batch:
                at, task_id = heapq.heappop(self._heap)
                if self._at.get(task_id) == at:  # else a stale entry: rescheduled since
                    del self._at[task_id]
                    due.append((task_id, at))
            if not due:
                return fired
            try:
                fired += await self._fire(due)
            except Exception:
                for task_id, at in due:  # the database failed: the next tick tries them again
                    if task_id not in self._at:
                        self._at[task_id] = at
                        heapq.heappush(self._heap, (at, task_id))
                raise


class Ownership(ConsumerRebalanceListener):  # type: ignore[misc]
    """The follow-up group's partitions of one topic decide which timer shards are ours."""

    def __init__(
        self, timers: Callable[[], Timers], partition_count: Callable[[str], Awaitable[int]]
    ) -> None:
        self.timers = timers
        self.partition_count = partition_count

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        if revoked:
            await self.timers().own(())

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        if not assigned:
            await self.timers().own(())
            return
        topic = next(iter(assigned)).topic
        count = await self.partition_count(topic)
        await self.timers().own(shards_of({tp.partition for tp in assigned}, count))
