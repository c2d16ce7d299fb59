"""The in-process engine: the actor registry of this process's shard, behind `send(command)`."""
from __future__ import annotations

from typing import Any

import asyncpg
import structlog

from .actors.actor import ActorContext
from .actors.commit import GroupCommit
from .actors.registry import Registry
from .commands import Command
from .config import Settings
from .connections import RedisClient
from .fencing import Fence
from .live import LivePublisher
from .seats import Seats

log = structlog.get_logger(__name__)


class Engine:
    """Implements `client.EngineClient` for commands handled in this process.

    `fence`: a sharded engine's claim on its shard (`fencing.py`), taken by its `ShardConsumer` before
    any command runs; None for `happening serve`, whose one process owns every event."""

    def __init__(self, pool: asyncpg.Pool, redis: RedisClient, settings: Settings, fence: Fence | None = None) -> None:
        self.settings = settings
        self.fence = fence
        self.seats = Seats(redis, settings.redis.prefix, settings.engine.lock_ttl_seconds, fence)
        self.live = LivePublisher(redis, settings.redis.prefix)  # committed changes, to the live streams
        self.context = ActorContext(pool, self.seats, settings.engine, GroupCommit(pool, fence), self.live, fence)
        self.registry = Registry(self.context)

    async def start(self) -> None:
        """Unsharded: drop the seat keys left in Redis (a sharded engine does so once it claimed its shard)."""
        if self.fence is None:
            await self.claimed(self.settings.engine.shard, self.settings.engine.shards)

    async def claimed(self, shard: int, shards: int) -> None:
        """Drop the seat keys of shard `shard` of `shards`: after a crash, or written by the previous owner,
        they may hold decisions that were never committed. A cold cache is always right (each actor
        rebuilds its event's keys from PostgreSQL on activation); a live owner that loses keys rebuilds."""
        cleared = await self.seats.clear_shard(shard, shards)
        if cleared:
            log.info("seat_cache_cleared", events=cleared)

    async def reset(self) -> None:
        """Retire every actor (each finishes what it holds: under a lost claim its writes fail) and start
        afresh: no actor outlives the claim it was started under."""
        await self.registry.stop()
        self.registry = Registry(self.context)

    async def stop(self) -> None:
        await self.registry.stop()
        await self.live.stop()

    async def send(self, command: Command, deadline: float | None = None) -> dict[str, Any]:
        return await self.registry.send(command, deadline)
