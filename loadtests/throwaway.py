"""Throwaway state for a test or benchmark run: a database of its own, Redis keys under a prefix of its
own, removed afterwards. The one recipe the test suite (`tests/conftest.py`), the benchmarks and the
process harness (`loadtests/processes.py`) share."""
from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import asyncpg

from happening_engine.config import DatabaseSettings, EngineSettings, RedisSettings, Settings
from happening_engine.connections import RedisClient, create_redis
from happening_engine.db import create_pool, migrate

ADMIN_DSN = os.environ.get("HAPPENING_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_url(name: str) -> str:
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + name


async def create_database(name: str, migrated: bool = True) -> str:
    """Create the database `name` and (unless `migrated` is False) migrate it; its URL."""
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    url = database_url(name)
    if migrated:
        await migrate(url)
    return url


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


async def delete_prefix(redis: RedisClient, prefix: str) -> None:
    """Delete every Redis key under `prefix`."""
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=5000)]
    for i in range(0, len(keys), 5000):
        await redis.delete(*keys[i:i + 5000])


@dataclass(frozen=True)
class Environment:
    settings: Settings
    pool: asyncpg.Pool
    redis: RedisClient


@asynccontextmanager
async def environment(kind: str, engine: EngineSettings | None = None, pool_size: int = 10,
                      base: Settings | None = None) -> AsyncIterator[Environment]:
    """`base` (default settings) with this run's own database and Redis key prefix, for an in-process
    benchmark."""
    name = f"happening_{kind}_{uuid.uuid4().hex[:8]}"
    url = await create_database(name)
    settings = replace(base or Settings(), database=DatabaseSettings(url=url, min_size=2, max_size=pool_size),
                       redis=RedisSettings(prefix=f"bench:{name}:"), engine=engine or EngineSettings())
    pool = await create_pool(settings.database)
    redis = create_redis(settings.redis)
    try:
        yield Environment(settings, pool, redis)
    finally:
        await pool.close()
        await delete_prefix(redis, settings.redis.prefix)
        await redis.aclose()
        await drop_database(name)
