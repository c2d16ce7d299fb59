"""`create_app(settings)`: the aiohttp application, composed of the parts a process runs.

`happening serve` runs every part in one process; `api`, `engine` and `worker` run one each. Every
resource is a `cleanup_ctx` generator: set up, yield, close.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Collection

from aiohttp import web

from happening_engine.config import Settings
from happening_engine.connections import create_redis
from happening_engine.db import create_pool

from . import health, keys
from .auth import auth_ctx
from .middlewares import MIDDLEWARES
from .routes import setup_routes

ALL_PARTS = frozenset({"api", "engine", "relay", "worker", "lifecycle"})


async def _postgres_ctx(app: web.Application) -> AsyncIterator[None]:
    app[keys.POOL] = await create_pool(app[keys.SETTINGS].database)
    yield
    await app[keys.POOL].close()


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    app[keys.REDIS] = create_redis(app[keys.SETTINGS].redis)
    yield
    await app[keys.REDIS].aclose()


async def _engine_ctx(app: web.Application) -> AsyncIterator[None]:
    """The in-process engine: actors for every event of this process's shard."""
    from happening_engine.engine import Engine

    engine = Engine(app[keys.POOL], app[keys.REDIS], app[keys.SETTINGS])
    await engine.start()
    app[keys.ENGINE] = engine
    yield
    await engine.stop()


def create_app(settings: Settings, parts: Collection[str] = ALL_PARTS) -> web.Application:
    unknown = set(parts) - ALL_PARTS
    if unknown:
        raise ValueError(f"unknown parts: {sorted(unknown)}")
    app = web.Application(client_max_size=settings.http.max_body_bytes, middlewares=MIDDLEWARES)
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.extend([_postgres_ctx, _redis_ctx])
    if "engine" in parts:
        app.cleanup_ctx.append(_engine_ctx)
    app.add_routes(health.routes)
    if "api" in parts:
        app.cleanup_ctx.append(auth_ctx)
        setup_routes(app)
    return app
