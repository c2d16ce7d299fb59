"""Which engine shards have a live engine: heartbeat keys in Redis with a TTL, refreshed by engines and
polled by APIs in one MGET, so a dead shard's commands fail at once (503) within the contract's 2 s.
Not the queue's consumer count: a consumer whose event loop is stuck still counts, but writes no heartbeat."""
from __future__ import annotations

import asyncio

import structlog
from prometheus_client import Gauge
from redis.exceptions import RedisError

from .connections import RedisClient
from .constants import engine_alive_key
from .ids import instance_name
from .tasks import cancel_and_wait

log = structlog.get_logger(__name__)
INTERVAL = 0.25
TTL_MS = 1500
SHARD_UP = Gauge("happening_engine_shard_up", "1 while the shard has a live engine (as this API sees it)",
                 ["shard"])


class Heartbeat:
    """Keeps shard K marked alive while `beating`; an engine beats only while it consumes its queue."""

    def __init__(self, redis: RedisClient, prefix: str, shard: int) -> None:
        self.redis, self.key, self.shard = redis, engine_alive_key(prefix, shard), shard
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._beat(), name=f"heartbeat-{self.shard}")

    async def stop(self) -> None:
        """Stop beating (the key expires by itself: a standby may be beating the same key)."""
        if self._task is not None:
            await cancel_and_wait(self._task)  # cancelled again if redis-py swallows it (it can, in SET)
            self._task = None

    async def _beat(self) -> None:
        me = instance_name()
        while True:
            try:
                await self.redis.set(self.key, me, px=TTL_MS)
            except (RedisError, OSError) as exc:
                log.warning("heartbeat_failed", shard=self.shard, error=repr(exc))
            await asyncio.sleep(INTERVAL)


class ShardHealth:
    """The API's view of which shards have a live engine, refreshed every `INTERVAL`."""

    def __init__(self, redis: RedisClient, prefix: str, shards: int) -> None:
        self.redis, self.prefix = redis, prefix
        self.shards = shards
        self.down: frozenset[int] = frozenset()  # until the first poll: nothing known to be down
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.poll()
        self._task = asyncio.create_task(self._loop(), name="shard-health")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)

    def resize(self, shards: int) -> None:
        """A new shard count (a new shard map): shards beyond it are forgotten."""
        for gone in range(shards, self.shards):
            SHARD_UP.remove(str(gone))
        self.shards = shards
        self.down = frozenset(s for s in self.down if s < shards)

    async def poll(self) -> None:
        shards = self.shards
        try:
            values = await self.redis.mget([engine_alive_key(self.prefix, s) for s in range(shards)])
        except (RedisError, OSError) as exc:  # Redis down: the engines cannot work either
            log.warning("shard_health_unknown", error=repr(exc))
            values = [None] * shards
        down = frozenset(s for s, v in enumerate(values) if v is None)
        if down != self.down and shards == self.shards:
            if down - self.down:
                log.warning("engine_shards_down", shards=sorted(down))
            if self.down - down:
                log.info("engine_shards_up", shards=sorted(self.down - down))
        self.down = down
        for s in range(shards):
            SHARD_UP.labels(str(s)).set(0 if s in down else 1)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL)
            await self.poll()
