"""An engine stepping down stops its shard heartbeat, also when redis-py swallows the cancellation of the
SET in flight (it does, now and then: stepping down once waited for the heartbeat for good). Real Redis:
the heartbeat is stopped at many points of its SET, and every stop ends it."""
from __future__ import annotations

import asyncio
import random

from happening_engine.constants import engine_alive_key
from happening_engine.shard_health import Heartbeat


async def test_a_heartbeat_stops_wherever_its_set_was(redis, settings) -> None:
    prefix = f"{settings.redis.prefix}heartbeat-stop:"
    rng = random.Random(17)
    for _ in range(200):
        heartbeat = Heartbeat(redis, prefix, 0)
        heartbeat.start()
        await asyncio.sleep(rng.random() * 0.003)  # somewhere in a SET, or between two
        async with asyncio.timeout(3):
            await heartbeat.stop()
    key = engine_alive_key(prefix, 0)
    await redis.delete(key)
    await asyncio.sleep(0.6)  # longer than the beat interval: a heartbeat left running would set it again
    assert not await redis.exists(key)
