"""An engine stepping down stops its shard heartbeat even when the Redis client swallows the cancellation
of the command in flight (redis-py 8 does, now and then): stepping down once waited for it for good."""
from __future__ import annotations

import asyncio
from typing import Any

from happening_engine.shard_health import Heartbeat


class _Swallowing:
    """A Redis stand-in whose SET finishes normally when cancelled, as redis-py's sometimes does."""

    def __init__(self) -> None:
        self.sets = 0

    async def set(self, *args: Any, **kwargs: Any) -> None:
        self.sets += 1
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            pass


async def test_a_heartbeat_stops_although_its_cancellation_was_swallowed() -> None:
    redis = _Swallowing()
    heartbeat = Heartbeat(redis, "test:", 0)  # type: ignore[arg-type]
    heartbeat.start()
    await asyncio.sleep(0.01)  # inside the SET
    async with asyncio.timeout(2):
        await heartbeat.stop()
    beats = redis.sets
    await asyncio.sleep(0.6)
    assert redis.sets == beats  # it beats no more
