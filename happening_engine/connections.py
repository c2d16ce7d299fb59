"""Connections to Redis (PostgreSQL lives in db.py)."""
from __future__ import annotations

from redis.asyncio import Redis

from .config import RedisSettings


def create_redis(settings: RedisSettings) -> Redis:
    """A pooled client; it connects lazily, so a process starts even while Redis is down."""
    return Redis.from_url(settings.url, decode_responses=True, health_check_interval=30,
                          socket_connect_timeout=2, max_connections=64)
