"""Per-key locks that exist only while someone holds or waits for them: the worker runs the jobs of
one user one at a time, in delivery order, without keeping a lock for every user it ever saw."""
from __future__ import annotations

import asyncio


class KeyedLocks:
    """`hold(key)` counts a holder now (in delivery order) and returns the key's lock to wait on;
    `release(key)` drops the count, and the lock with the last holder."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # per key: lock, jobs holding it

    def __len__(self) -> int:
        return len(self._locks)

    def hold(self, key: str) -> asyncio.Lock:
        lock, holders = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, holders + 1)
        return lock

    def release(self, key: str) -> None:
        lock, holders = self._locks[key]
        if holders <= 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, holders - 1)
