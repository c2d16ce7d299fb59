"""Connections to Redis (PostgreSQL lives in db.py): one Redis, or a Redis Cluster (`RedisSettings.cluster`).

Every key a script or pipeline touches at once shares one hash tag (`constants.py`), so the same calls
work on both. What differs on a cluster: commands are packed by redis-py in Python (RedisCluster makes
its own connections), and PUBLISH cannot be pipelined there, so `publisher` gives a plain client to one
node, which relays every message to all the others.
"""
from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import urlsplit

import hiredis
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.connection import Connection

from .config import RedisSettings

RedisClient: TypeAlias = Redis | RedisCluster
# A cluster's connections per node: redis-py's cluster client refuses a command (MaxConnectionsError)
# rather than wait when they are all busy, so there are more than the single client's 64 waiting ones.
CLUSTER_CONNECTIONS_PER_NODE = 256


class CPackedConnection(Connection):
    """redis-py's asyncio connection packs every command in Python (~10 us for one of the actors' Lua
    calls, one per booking when many events book at once); hiredis, which parses the replies already,
    packs it in C, byte for byte the same, in ~1 us."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:  # "SCRIPT LOAD": its words are separate arguments
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:  # a value hiredis does not take: redis-py's own packing, and its error
            return super().pack_command(*args)


def create_redis(settings: RedisSettings) -> RedisClient:
    """A pooled client; it connects lazily, so a process starts even while Redis is down. When all
    64 connections are busy (hundreds of actors activating at once), a call waits for one (up to
    10 s) instead of failing. With `settings.cluster`, a Redis Cluster client that learns the other
    nodes from the one in the URL."""
    if settings.cluster:
        return RedisCluster.from_url(settings.url, decode_responses=True, health_check_interval=30,
                                     socket_connect_timeout=2, max_connections=CLUSTER_CONNECTIONS_PER_NODE)
    plain_tcp = {"connection_class": CPackedConnection} if urlsplit(settings.url).scheme == "redis" else {}
    pool = BlockingConnectionPool.from_url(settings.url, decode_responses=True, health_check_interval=30,
                                           socket_connect_timeout=2, max_connections=64, timeout=10,
                                           **plain_tcp)
    return Redis.from_pool(pool)  # the client owns the pool: aclose() closes its connections


def publisher(redis: RedisClient) -> Redis:
    """The client to PUBLISH through in pipelines: `redis` itself, or for a cluster a plain client to the
    node it was started from, connecting as the cluster does (address, credentials, TLS); the caller
    closes it. Any node of a cluster passes a message on to every other node, in the order it got them."""
    if isinstance(redis, Redis):
        return redis
    node = redis.startup_nodes[0]
    pool = BlockingConnectionPool(connection_class=node.connection_class, max_connections=4, timeout=10,
                                  **node.connection_kwargs)
    return Redis.from_pool(pool)
