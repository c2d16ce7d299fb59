"""An in-process engine for tests (its actors, Redis seats and group commit on the run's database)."""
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from happening_engine.config import Settings
from happening_engine.connections import RedisClient
from happening_engine.engine import Engine


async def running_engine(pool: asyncpg.Pool, redis: RedisClient, settings: Settings,
                         **engine_settings: Any) -> AsyncIterator[Engine]:
    """A started engine (with these `EngineSettings` changed), stopped afterwards: a fixture's body."""
    engine = Engine(pool, redis, dataclasses.replace(settings, engine=dataclasses.replace(settings.engine,
                                                                                          **engine_settings)))
    await engine.start()
    yield engine
    await engine.stop()
