"""A throwaway database and Redis key prefix for an in-process benchmark, removed afterwards."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import asyncpg
from redis.asyncio import Redis

from happening_engine.config import DatabaseSettings, EngineSettings, RedisSettings, Settings
from happening_engine.connections import create_redis
from happening_engine.db import create_pool, migrate

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Scratch:
    settings: Settings
    pool: asyncpg.Pool
    redis: Redis


@asynccontextmanager
async def scratch(kind: str, engine: EngineSettings | None = None, pool_size: int = 10,
                  base: Settings | None = None) -> AsyncIterator[Scratch]:
    """`base` (default settings) with this run's own database and Redis key prefix."""
    name = f"happening_{kind}_{uuid.uuid4().hex[:8]}"
    url = f"{ADMIN.rsplit('/', 1)[0]}/{name}"
    await migrate(url)  # creates the database
    settings = replace(base or Settings(), database=DatabaseSettings(url=url, min_size=2, max_size=pool_size),
                       redis=RedisSettings(prefix=f"bench:{name}:"), engine=engine or EngineSettings())
    pool = await create_pool(settings.database)
    redis = create_redis(settings.redis)
    try:
        yield Scratch(settings, pool, redis)
    finally:
        await pool.close()
        keys = [k async for k in redis.scan_iter(match=f"{settings.redis.prefix}*", count=5000)]
        for i in range(0, len(keys), 5000):
            await redis.delete(*keys[i:i + 5000])
        await redis.aclose()
        admin = await asyncpg.connect(ADMIN)
        try:
            await admin.execute(f'drop database if exists "{name}" with (force)')
        finally:
            await admin.close()
