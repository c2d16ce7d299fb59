"""Engine memory: RSS with N active events (one actor each), and after idle actors retire.

Usage: python -m loadtests.memory_bench [--events 10000]
Uses a throwaway database and Redis key prefix. Prints RSS and live Python memory blocks before, with
all actors active, and after they retire, for two bursts one after the other. Target: under 300 MB RSS
with 10,000 active events, and memory back to the start once idle actors retire: live objects always;
RSS partly under Python's allocator (it keeps arenas that are not entirely empty; the engine returns the
rest after each wave of retirements) and nearly all of it when run with PYTHONMALLOC=malloc. The second
burst shows that memory is reused, not leaked: it does not raise the high-water mark.
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

from .fixtures import make_org, make_users
from .throwaway import environment


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
    async with environment("mem", EngineSettings(idle_seconds=args.idle_seconds)) as env:
        pool, redis, settings = env.pool, env.redis, env.settings
        users = await make_users(pool, 2)
        org = await make_org(pool, name="mem")
        events = [r["id"] for r in await pool.fetch(
            "insert into events (org_id, name, category, status, starts_at, ends_at, total_slots, published_at)"
            " select $1, 'E' || i, 'webinar', 'upcoming', now() + interval '1 day', now() + interval '2 days',"
            " 100, now() from generate_series(1, $2) i returning id", org, args.events)]
        engine = Engine(pool, redis, settings)
        # asyncpg's UUIDs compute their hash on first use: done here, not in the bursts, where these small
        # objects of the bench's own (kept to the end) would be mixed into the engine's memory.
        for event in events:
            hash(event)
        gc.collect()
        start, start_blocks = rss_mb(), sys.getallocatedblocks()
        bursts = []
        for user in users:  # two bursts: the second reuses what the first left, if nothing leaks
            for i in range(0, len(events), 500):  # activate every actor with one booking each
                await asyncio.gather(*(engine.send(Book(e, user, 1)) for e in events[i:i + 500]))
            gc.collect()
            active_actors, active, active_blocks = len(engine.registry.actors), rss_mb(), sys.getallocatedblocks()
            await asyncio.sleep(args.idle_seconds + 2)
            gc.collect()
            bursts.append({
                "actors_active": active_actors, "rss_active_mb": round(active, 1),
                "python_blocks_active": active_blocks,
                "actors_after_idle": len(engine.registry.actors), "rss_after_retirement_mb": round(rss_mb(), 1),
                "python_blocks_after_retirement": sys.getallocatedblocks(),
                "actor_objects_left": sum(1 for o in gc.get_objects() if isinstance(o, Actor)),
                "tasks_left": len(asyncio.all_tasks())})
        print(json.dumps({"events": args.events, "rss_start_mb": round(start, 1), "python_blocks_start": start_blocks,
                          "bursts": bursts}, indent=2))
        await engine.stop()


if __name__ == "__main__":
    import logging

    import uvloop

    from happening_engine.logs import configure_logging
    configure_logging("console", level=logging.WARNING)  # figures only, not one line per actor
    uvloop.run(main())
