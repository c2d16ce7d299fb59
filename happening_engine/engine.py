"""The in-process engine: the actor registry of this process's shard, behind `send(command)`."""
from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from redis.asyncio import Redis

from .actors.actor import ActorContext
from .actors.commit import GroupCommit
from .actors.registry import Registry
from .commands import Command
from .config import Settings
from .live import LivePublisher
from .seats import Seats

log = structlog.get_logger(__name__)


class Engine:
    """Implements `client.EngineClient` for commands handled in this process."""

    def __init__(self, pool: asyncpg.Pool, redis: Redis, settings: Settings) -> None:
        self.settings = settings
        self.seats = Seats(redis, settings.redis.prefix, settings.engine.lock_ttl_seconds)
        self.live = LivePublisher(redis, settings.redis.prefix)  # committed changes, to the live streams
        self.registry = Registry(ActorContext(pool, self.seats, settings.engine, GroupCommit(pool), self.live))

    async def start(self) -> None:
        """Drop the seat keys this shard left in Redis: after a crash they may hold decisions that were
        never committed. A cold cache is always right (each actor rebuilds its event's keys from
        PostgreSQL on activation); a live engine of the shard that loses keys rebuilds them too."""
        cleared = await self.seats.clear_shard(self.settings.engine.shard, self.settings.engine.shards)
        if cleared:
            log.info("seat_cache_cleared", events=cleared)

    async def stop(self) -> None:
        await self.registry.stop()
        await self.live.stop()

    async def send(self, command: Command, deadline: float | None = None) -> dict[str, Any]:
        return await self.registry.send(command, deadline)
