"""Every `web.AppKey` stored on the application, in one place."""
from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:  # the keys' value types; imported for the checker only (api.auth imports this module)
    import asyncpg
    from cachetools import TTLCache

    from happening_engine.client import EngineClient
    from happening_engine.config import Settings
    from happening_engine.connections import RedisClient
    from happening_engine.fencing import Fence
    from happening_engine.shard_health import ShardHealth
    from happening_engine.shard_map import ShardMapView

    from .auth import CurrentUser
    from .fanout import Fanout
    from .health import Readiness
    from .ratelimit import RateLimiter
    from .tokens import TokenVerifier

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
POOL: web.AppKey[asyncpg.Pool] = web.AppKey("pool")
REDIS: web.AppKey[RedisClient] = web.AppKey("redis")
ENGINE: web.AppKey[EngineClient] = web.AppKey("engine")
REMOTE_ENGINE: web.AppKey[EngineClient] = web.AppKey("remote_engine")  # over RabbitMQ, where this process has one
SHARD_HEALTH: web.AppKey[ShardHealth] = web.AppKey("shard_health")  # an API's view of which engine shards are live
SHARD_MAP: web.AppKey[ShardMapView] = web.AppKey("shard_map")  # the shard map in PostgreSQL, as routed by
FENCE: web.AppKey[Fence] = web.AppKey("fence")  # a sharded engine's claim on its shard
AUTH: web.AppKey[TokenVerifier] = web.AppKey("auth")
KNOWN_USERS: web.AppKey[TTLCache[str, asyncpg.Record]] = web.AppKey("known_users")  # token sub -> users row
FANOUT: web.AppKey[Fanout] = web.AppKey("fanout")  # live updates to open streams

LIMITER: web.AppKey[RateLimiter] = web.AppKey("limiter")  # absent when limits are off
READINESS: web.AppKey[Readiness] = web.AppKey("readiness")  # the last dependency check, shared by /readyz calls

# per-request storage
USER: web.RequestKey[CurrentUser] = web.RequestKey("user")  # set by the auth middleware
