"""Engine memory: RSS with N active events (one actor each), and after idle actors retire.

Usage: python -m loadtests.memory_bench [--events 10000]
Uses a throwaway database and Redis key prefix. Prints RSS and live Python memory blocks before,
with all actors active, and after they retire. Target: under 300 MB RSS with 10,000 active events, and
live objects back to the start once idle actors retire. (RSS itself stays near its high-water mark:
CPython's allocator keeps freed arenas that are not entirely empty; the memory is reused, not leaked.)
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import uuid
from dataclasses import replace

import asyncpg

from happening_engine.commands import Book
from happening_engine.config import DatabaseSettings, EngineSettings, RedisSettings, Settings
from happening_engine.connections import create_redis
from happening_engine.db import create_pool, migrate
from happening_engine.engine import Engine

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--idle-seconds", type=float, default=90.0)
    args = parser.parse_args()
    name = f"happening_mem_{uuid.uuid4().hex[:8]}"
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    await migrate(url)
    settings = Settings(database=DatabaseSettings(url=url, min_size=2, max_size=10),
                        redis=RedisSettings(prefix=f"bench:{name}:"),
                        engine=EngineSettings(idle_seconds=args.idle_seconds))
    pool = await create_pool(settings.database)
    redis = create_redis(settings.redis)
    try:
        user = await pool.fetchval("insert into users (keycloak_id, email) values ('m', 'm@bench.test') returning id")
        org = await pool.fetchval("insert into organizations (name) values ('mem') returning id")
        events = [r["id"] for r in await pool.fetch(
            "insert into events (org_id, name, category, status, starts_at, ends_at, total_slots, published_at)"
            " select $1, 'E' || i, 'webinar', 'upcoming', now() + interval '1 day', now() + interval '2 days',"
            " 100, now() from generate_series(1, $2) i returning id", org, args.events)]
        engine = Engine(pool, redis, replace(settings))
        gc.collect()
        start, start_blocks = rss_mb(), sys.getallocatedblocks()
        for i in range(0, len(events), 500):  # activate every actor with one booking each
            await asyncio.gather(*(engine.send(Book(e, user, 1)) for e in events[i:i + 500]))
        gc.collect()
        active_actors = len(engine.registry.actors)
        active, active_blocks = rss_mb(), sys.getallocatedblocks()
        await asyncio.sleep(args.idle_seconds + 2)
        gc.collect()
        retired, retired_blocks = rss_mb(), sys.getallocatedblocks()
        from happening_engine.actors.actor import Actor
        leftover = sum(1 for o in gc.get_objects() if isinstance(o, Actor))
        tasks = len(asyncio.all_tasks())
        print(json.dumps({"events": args.events, "actors_active": active_actors,
                          "actors_after_idle": len(engine.registry.actors), "rss_start_mb": round(start, 1),
                          "rss_active_mb": round(active, 1), "rss_after_retirement_mb": round(retired, 1),
                          "python_blocks": {"start": start_blocks, "active": active_blocks,
                                            "after_retirement": retired_blocks},
                          "actor_objects_left": leftover, "tasks_left": tasks},
                         indent=2))
        await engine.stop()
    finally:
        await pool.close()
        keys = [k async for k in redis.scan_iter(match=f"bench:{name}:*", count=5000)]
        for i in range(0, len(keys), 5000):
            await redis.delete(*keys[i:i + 5000])
        await redis.aclose()
        admin = await asyncpg.connect(ADMIN)
        await admin.execute(f'drop database "{name}" with (force)')
        await admin.close()


if __name__ == "__main__":
    import logging

    import uvloop

    from happening_engine.logs import configure_logging
    configure_logging("console", level=logging.WARNING)  # figures only, not one line per actor
    uvloop.run(main())
