"""Every `web.AppKey` stored on the application, in one place."""
from __future__ import annotations

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from happening_engine.config import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
REDIS = web.AppKey("redis", Redis)
ENGINE = web.AppKey("engine", "EngineClient")
REMOTE_ENGINE = web.AppKey("remote_engine", "EngineClient")  # over RabbitMQ, where this process has one
SHARD_HEALTH = web.AppKey("shard_health", "ShardHealth")  # an API's view of which engine shards are live
SHARD_MAP = web.AppKey("shard_map", "ShardMapView")  # the shard map in PostgreSQL, as routed by
FENCE = web.AppKey("fence", "Fence")  # a sharded engine's claim on its shard (happening_engine.fencing)
AUTH = web.AppKey("auth", object)  # api.auth.TokenVerifier
KNOWN_USERS = web.AppKey("known_users", object)  # cachetools.TTLCache: token sub -> users row
FANOUT = web.AppKey("fanout", "Fanout")  # api.fanout.Fanout: live updates to open streams

LIMITER = web.AppKey("limiter", "RateLimiter")  # api.ratelimit.RateLimiter (absent when limits are off)

# per-request storage
USER = web.RequestKey("user", "CurrentUser")  # api.auth.CurrentUser, set by the auth middleware
