"""Connections to Redis (PostgreSQL lives in db.py)."""
from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis

from .config import RedisSettings


def create_redis(settings: RedisSettings) -> Redis:
    """A pooled client; it connects lazily, so a process starts even while Redis is down. When all
    64 connections are busy (hundreds of actors activating at once), a call waits for one (up to
    10 s) instead of failing."""
    pool = BlockingConnectionPool.from_url(settings.url, decode_responses=True, health_check_interval=30,
                                           socket_connect_timeout=2, max_connections=64, timeout=10)
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes its connections
