"""Process assembly: which parts a `happening` process runs (all for `serve`, one each for `api`, `engine`,
`worker`), each resource a `cleanup_ctx` generator (set up, yield, close). The HTTP API receives the
engine client under `api.keys.ENGINE` and never builds the engine itself."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from typing import Any

from aiohttp import web

from api import health, keys
from api.app import setup_api
from api.middlewares import MIDDLEWARES
from happening_engine.config import HttpSettings, Settings
from happening_engine.connections import create_redis
from happening_engine.db import create_pool

LINGER_SECONDS = 2.0
ALL_PARTS = frozenset({"api", "engine", "relay", "worker", "lifecycle"})


async def _postgres_ctx(app: web.Application) -> AsyncIterator[None]:
    app[keys.POOL] = await create_pool(app[keys.SETTINGS].database)
    yield
    await app[keys.POOL].close()


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    app[keys.REDIS] = create_redis(app[keys.SETTINGS].redis)
    yield
    await app[keys.REDIS].aclose()


def _component(factory: Callable[[web.Application], Any]) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup_ctx for a background component with `start()`/`stop()`."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        component = factory(app)
        await component.start()
        yield
        await component.stop()

    return ctx


async def _engine_ctx(app: web.Application) -> AsyncIterator[None]:
    """The in-process engine: actors for the events of this process's shard."""
    from happening_engine.engine import Engine

    engine = Engine(app[keys.POOL], app[keys.REDIS], app[keys.SETTINGS], app.get(keys.FENCE))
    await engine.start()
    app[keys.ENGINE] = engine
    yield
    await engine.stop()


async def _remote_engine_ctx(app: web.Application) -> AsyncIterator[None]:
    """The engine reached over RabbitMQ (a process without an engine of its own, or a sharded one),
    routed by the shard map in PostgreSQL (`happening_engine.shard_map`). An API without an engine
    watches the shards' heartbeats, to fail a dead shard's commands at once."""
    from happening_engine.routing import AmqpEngineClient
    from happening_engine.shard_health import ShardHealth
    from happening_engine.shard_map import ShardMapView

    settings = app[keys.SETTINGS]
    shard_map = app[keys.SHARD_MAP] = ShardMapView(app[keys.POOL], settings.engine.shards)
    await shard_map.start()
    health = None
    if keys.ENGINE not in app:
        health = ShardHealth(app[keys.REDIS], settings.redis.prefix, shard_map.current.shards)
        shard_map.on_change(lambda current: health.resize(current.shards))
        await health.start()
        app[keys.SHARD_HEALTH] = health
    client = AmqpEngineClient(settings, health, shard_map)
    await client.start()
    app[keys.REMOTE_ENGINE] = client
    app.setdefault(keys.ENGINE, client)
    yield
    await client.stop()
    if health is not None:
        await health.stop()
    await shard_map.stop()


def _shard_consumer(app: web.Application) -> Any:
    from happening_engine.engine import Engine
    from happening_engine.shard_consumer import ShardConsumer
    engine = app[keys.ENGINE]
    if not isinstance(engine, Engine):  # _engine_ctx put this process's own engine there, ahead of any client
        raise RuntimeError("a shard consumer needs the engine of its own process")
    return ShardConsumer(engine, app[keys.SETTINGS], app[keys.REDIS], app[keys.POOL], app[keys.SHARD_MAP])


def _lifecycle(app: web.Application) -> Any:
    from happening_engine.lifecycle import LifecycleClock
    # A standalone engine may be a standby: its clock routes through the shard queue like any client.
    client = app.get(keys.REMOTE_ENGINE) or app[keys.ENGINE]
    shard_map = app.get(keys.SHARD_MAP)
    return LifecycleClock(app[keys.POOL], client, app[keys.SETTINGS].engine,
                          (lambda: shard_map.current.shards) if shard_map is not None else None)


def _relay(app: web.Application) -> Any:
    from happening_engine.outbox import OutboxRelay
    return OutboxRelay(app[keys.POOL], app[keys.SETTINGS])


def _worker(app: web.Application) -> Any:
    from happening_engine.worker.consumer import NotificationWorker
    return NotificationWorker(app[keys.POOL], app[keys.SETTINGS])


def make_runner(app: web.Application, http: HttpSettings) -> web.AppRunner:
    """The runner every process serves through. aiohttp has no header timeout: its keep-alive timer closes a
    connection whose request has not fully arrived, so `keepalive_timeout` is the slowloris deadline; a slow
    body is bounded where it is read (`json_body`), an unread one drained for `LINGER_SECONDS` at most."""
    return web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=http.header_timeout,
                         lingering_time=LINGER_SECONDS)


def create_app(settings: Settings, parts: Collection[str] = ALL_PARTS) -> web.Application:
    """One process's application: the shared resources, then each of `parts` (`ALL_PARTS`)."""
    unknown = set(parts) - ALL_PARTS
    if unknown:
        raise ValueError(f"unknown parts: {sorted(unknown)}")
    app = web.Application(client_max_size=settings.http.max_body_bytes, middlewares=MIDDLEWARES)
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.extend([_postgres_ctx, _redis_ctx])
    standalone_engine = "engine" in parts and "api" not in parts
    if "engine" in parts:
        if standalone_engine:  # one shard of several processes: it writes only under its claim on the shard
            from happening_engine.fencing import Fence
            app[keys.FENCE] = Fence.sharded(settings.engine.shard)
        app.cleanup_ctx.append(_engine_ctx)
    if ("api" in parts and "engine" not in parts) or standalone_engine:
        app.cleanup_ctx.append(_remote_engine_ctx)
    if standalone_engine:
        app.cleanup_ctx.append(_component(_shard_consumer))
    if "lifecycle" in parts:
        app.cleanup_ctx.append(_component(_lifecycle))
    if "relay" in parts:
        app.cleanup_ctx.append(_component(_relay))
    if "worker" in parts:
        app.cleanup_ctx.append(_component(_worker))
    health.setup(app)
    if "api" in parts:
        setup_api(app)
    return app
