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

from happening_engine.actors.actor import Actor
from happening_engine.commands import Book
from happening_engine.config import EngineSettings
from happening_engine.engine import Engine

from .scratch import scratch


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
    async with scratch("mem", EngineSettings(idle_seconds=args.idle_seconds)) as env:
        pool, redis, settings = env.pool, env.redis, env.settings
        user = await pool.fetchval("insert into users (keycloak_id, email) values ('m', 'm@bench.test') returning id")
        org = await pool.fetchval("insert into organizations (name) values ('mem') returning id")
        events = [r["id"] for r in await pool.fetch(
            "insert into events (org_id, name, category, status, starts_at, ends_at, total_slots, published_at)"
            " select $1, 'E' || i, 'webinar', 'upcoming', now() + interval '1 day', now() + interval '2 days',"
            " 100, now() from generate_series(1, $2) i returning id", org, args.events)]
        engine = Engine(pool, redis, settings)
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


if __name__ == "__main__":
    import logging

    import uvloop

    from happening_engine.logs import configure_logging
    configure_logging("console", level=logging.WARNING)  # figures only, not one line per actor
    uvloop.run(main())
