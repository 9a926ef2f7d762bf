"""Per-key asyncio locks: serialise one process's work on one aggregate (a contact, a session).

Across processes, correctness rests on the database (unique inserts, conditional updates on
MongoDB); this keeps a single process from racing itself and cuts needless conflicts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:  # forget idle keys: the map stays small
                del self._users[key], self._locks[key]
