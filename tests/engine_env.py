"""Engines for tests: in-process (its actors, Redis seats and group commit on the run's database), or an
`engine` process's app consuming its shard queue over RabbitMQ."""
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiormq
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from happening.processes import create_app
from happening_engine.config import Settings
from happening_engine.connections import RedisClient
from happening_engine.constants import shard_queue
from happening_engine.engine import Engine


async def running_engine(pool: asyncpg.Pool, redis: RedisClient, settings: Settings,
                         **engine_settings: Any) -> AsyncIterator[Engine]:
    """A started engine (with these `EngineSettings` changed), stopped afterwards: a fixture's body."""
    engine = Engine(pool, redis, dataclasses.replace(settings, engine=dataclasses.replace(settings.engine,
                                                                                          **engine_settings)))
    await engine.start()
    yield engine
    await engine.stop()



@pytest.fixture
async def quick_retirement(pool: asyncpg.Pool, redis: RedisClient, settings: Settings) -> AsyncIterator[Engine]:
    """An engine whose actors retire after 0.3 s without a command."""
    async for engine in running_engine(pool, redis, settings, idle_seconds=0.3):
        yield engine


async def shard_engine(settings: Settings, name: str, keys: str, command_timeout: float) -> AsyncIterator[Settings]:
    """An engine app serving shard 0 on its own RabbitMQ names (`<prefix>.<name>`), signing keys and
    command timeout; yields the settings to send to it with, then deletes its queue: a fixture's body."""
    amqp = dataclasses.replace(settings.amqp, prefix=f"{settings.amqp.prefix}.{name}")
    keyed = dataclasses.replace(settings, amqp=amqp, engine=dataclasses.replace(
        settings.engine, command_keys=keys, command_timeout=command_timeout))
    server = TestServer(create_app(keyed, {"engine"}))
    await server.start_server()
    yield keyed
    await server.close()
    connection = await aiormq.connect(amqp.url)
    await (await connection.channel()).queue_delete(shard_queue(amqp.prefix, 0))
    await connection.close()
