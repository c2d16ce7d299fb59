"""The in-process engine: the actor registry of this process's shard, behind `send(command)`."""
from __future__ import annotations

from typing import Any

import asyncpg
from redis.asyncio import Redis

from .actors.actor import ActorContext
from .actors.commit import GroupCommit
from .actors.registry import Registry
from .commands import Command
from .config import Settings
from .seats import Seats


class Engine:
    """Implements `client.EngineClient` for commands handled in this process."""

    def __init__(self, pool: asyncpg.Pool, redis: Redis, settings: Settings) -> None:
        seats = Seats(redis, settings.redis.prefix, settings.engine.lock_ttl_seconds)
        self.registry = Registry(ActorContext(pool, seats, settings.engine, GroupCommit(pool)))

    async def start(self) -> None:
        """Nothing to warm up: actors activate on their first command."""

    async def stop(self) -> None:
        await self.registry.stop()

    async def send(self, command: Command) -> dict[str, Any]:
        return await self.registry.send(command)
