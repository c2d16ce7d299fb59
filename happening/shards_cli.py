"""`happening shards` (the map, each shard's owner and whether an engine serves it) and
`happening shards set N` (a new map version: every engine steps down from its shard under the old count
and claims its shard under the new one; see store/shards.py and shard_consumer.py)."""
from __future__ import annotations

import asyncio

import asyncpg

from happening_engine.config import Settings
from happening_engine.connections import create_redis
from happening_engine.constants import engine_alive_key
from happening_engine.db import create_pool
from happening_engine.store.shards import MapVersion, load_map, owners, set_shards

SET_ATTEMPTS = 5  # a change waits for the writes in flight of every engine (lock_timeout each time)


async def seed_map(settings: Settings) -> MapVersion:
    """The map, seeded with HAPPENING_ENGINE_SHARDS when the database has none (`happening migrate`)."""
    conn = await asyncpg.connect(settings.database.url)
    try:
        return await load_map(conn, settings.engine.shards)
    finally:
        await conn.close()


async def shards_main(settings: Settings, count: int | None) -> int:
    pool = await create_pool(settings.database, min_size=1, max_size=2)
    redis = create_redis(settings.redis)
    try:
        if count is not None:
            before = await load_map(pool, settings.engine.shards)
            for attempt in range(SET_ATTEMPTS):
                try:
                    after = await set_shards(pool, count)
                    break
                except asyncpg.LockNotAvailableError:  # an engine's write held its shard's row: try again
                    if attempt == SET_ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(0.5)
            if after.version == before.version:
                print(f"shard map version {after.version} already has {count} shard(s): nothing changed")
            else:
                print(f"shard map version {after.version}: {count} shard(s), was {before.shards}. Engines and APIs"
                      " follow within a second; a shard with no engine answers 503 until one runs")
        current = await load_map(pool, settings.engine.shards)
        live = await redis.mget([engine_alive_key(settings.redis.prefix, k) for k in range(current.shards)])
        claims = {o.shard: o for o in await owners(pool) if o.shards == current.shards}
        print(f"shard map version {current.version}: {current.shards} shard(s)")
        print(f"{'shard':>5}  {'engine':<28}  {'owner (epoch)':<40}  claimed at")
        for shard in range(current.shards):
            claim = claims.get(shard)
            owner = f"{claim.owner} ({claim.epoch})" if claim and claim.owner else "-"
            beat = live[shard]
            engine = f"live {beat.decode() if isinstance(beat, bytes) else beat}" if beat else "NONE"
            print(f"{shard:>5}  {engine:<28}  {owner:<40}  {claim.claimed_at if claim and claim.owner else '-'}")
        return 0 if all(live) else 1
    finally:
        await pool.close()
        await redis.aclose()
