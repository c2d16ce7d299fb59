"""Seats and waitlists in Redis, changed only through the Lua scripts of `lua/` (registered once, EVALSHA).
An actor decides a whole batch with one atomic script call, in arrival order; the calls of all actors
deciding at once share one pipelined round trip, as redis-py's per-command overhead is costly (README)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from redis.exceptions import NoScriptError

from .batch import Batcher
from .connections import RedisClient
from .constants import LUA_DIR, booking_lock_key, event_keys
from .errors import Fenced
from .fencing import Fence
from .sharding import shard_of


def _load(name: str) -> str:
    source = (LUA_DIR / f"{name}.lua").read_text()
    if name in ("decide", "capacity"):
        source = (LUA_DIR / "_seats.lua").read_text() + "\n" + source
    return source


@dataclass(frozen=True, slots=True)
class WaitEntry:
    """One waitlist entry, as stored: `<booking id>:<user id>:<seats>`."""

    booking_id: UUID
    user_id: UUID
    seats: int

    @classmethod
    def parse(cls, raw: str) -> WaitEntry:
        booking, user, seats = raw.split(":")
        return cls(UUID(booking), UUID(user), int(seats))

    def encode(self) -> str:
        return f"{self.booking_id}:{self.user_id}:{self.seats}"


class Seats:
    """Typed calls to the seat scripts for one Redis client and key prefix. Each call carries the epoch
    of this engine's `fence`: keys a newer owner wrote are left alone (`Fenced`)."""

    def __init__(self, redis: RedisClient, prefix: str, lock_ttl: int, fence: Fence | None = None) -> None:
        self.fence = fence or Fence()
        self.redis = redis
        self.prefix = prefix
        self.lock_ttl = lock_ttl
        self._decide = redis.register_script(_load("decide"))
        self._capacity = redis.register_script(_load("capacity"))
        self._rebuild = redis.register_script(_load("rebuild"))
        self._clear = redis.register_script(_load("clear"))
        self._decisions: Batcher[tuple[list[str], list[Any]], Any] = Batcher(
            self._decide_many, max_size=1000, max_wait=0, name="seat-decisions")

    def keys(self, event_id: UUID) -> list[str]:
        return event_keys(self.prefix, event_id)

    def lock_key(self, event_id: UUID, user_id: UUID) -> str:
        return booking_lock_key(self.prefix, event_id, user_id)

    async def decide(self, event_id: UUID, ops: list[tuple[str, UUID, UUID, int]]) -> list[list[Any]]:
        """Run a batch of ('B' book | 'C' cancel, booking id, user id, seats) in order, atomically: one result per
        op, or [['REBUILD']] when the event's keys are missing or stale; `Fenced` when a newer owner wrote them."""
        keys = self.keys(event_id) + [self.lock_key(event_id, user) for _, _, user, _ in ops]
        args: list[Any] = [self.lock_ttl, self.fence.redis_epoch]
        for op, booking, user, seats in ops:
            args += [op, str(booking), str(user), seats]
        result = await self._decisions.submit((keys, args))
        if isinstance(result, Exception):
            raise result
        decisions: list[list[Any]] = result  # the script's reply: one list per op
        if decisions and decisions[0][0] == "FENCED":
            raise self._fenced()
        return decisions

    def _fenced(self) -> Fenced:
        self.fence.lose()
        return Fenced("this engine no longer owns the event's shard; the command was not run")

    async def _decide_many(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """One pipeline (not a transaction: each script call is atomic on its own) for many calls."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.evalsha(self._decide.sha, len(keys), *keys, *args)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        for i, result in enumerate(results):
            if isinstance(result, NoScriptError):  # a restarted or flushed Redis: load it, call again
                results[i] = await self._decide(*calls[i])
        return results

    async def capacity(self, event_id: UUID, total: int) -> list[Any]:
        result: list[Any] = await self._capacity(self.keys(event_id), [total, self.fence.redis_epoch])
        if result and result[0] == "FENCED":
            raise self._fenced()
        return result

    async def rebuild(self, event_id: UUID, total: int, available: int, seq: int,
                      waiting: list[WaitEntry], holders: dict[UUID, UUID]) -> bool:
        """Replace the keys with PostgreSQL's state; False (nothing written) if a newer owner wrote them."""
        args: list[Any] = [self.fence.redis_epoch, total, available, seq, len(waiting),
                           *(w.encode() for w in waiting)]
        for user_id, booking_id in holders.items():
            args += [str(user_id), str(booking_id)]
        if await self._rebuild(self.keys(event_id), args) == "FENCED":
            self.fence.lose()
            return False
        return True

    async def clear(self, event_id: UUID) -> None:
        await self._clear(self.keys(event_id))

    async def clear_shard(self, shard: int, shards: int) -> int:
        """Drop the keys of every event of `shard` (each event's four keys in one atomic call)."""
        cleared = 0
        async for key in self.redis.scan_iter(match=f"{self.prefix}event:{{*}}:meta", count=1000):
            event_id = UUID(key[len(self.prefix) + len("event:{"):key.index("}", len(self.prefix))])
            if shard_of(event_id, shards) == shard:
                await self.clear(event_id)
                cleared += 1
        return cleared

