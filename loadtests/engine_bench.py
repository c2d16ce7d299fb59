"""Engine alone (commands sent in-process, no HTTP): book commands per second on one hot event.

Usage: python -m loadtests.engine_bench [--bookings 20000] [--slots 500]
Prints the figures and, measured in the same run, the baseline: the same bookings done one at a
time, each in its own PostgreSQL transaction with `SELECT ... FOR UPDATE` on the event row
(`loadtests.baseline`, shared with the HTTP benchmark `loadtests.bench`).
Uses a throwaway database and Redis key prefix; durable commits (synchronous_commit on). The engine
runs with its default settings; HAPPENING_ENGINE_* variables (e.g. HAPPENING_ENGINE_BATCH_MAX) change them.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from datetime import timedelta

import asyncpg

from happening_engine.commands import Book
from happening_engine.config import Settings
from happening_engine.engine import Engine
from happening_engine.invariants import check

from .baseline import book_for_update
from .fixtures import make_event, make_org, make_users
from .throwaway import environment


async def _setup(pool: asyncpg.Pool, users: int, slots: int) -> tuple[list[uuid.UUID], uuid.UUID, uuid.UUID]:
    ids = await make_users(pool, users)
    org = await make_org(pool, name="bench")
    hot, base = [await make_event(pool, org, slots, name="Hot", max_seats=4, duration=timedelta(days=1))
                 for _ in range(2)]
    return ids, hot, base


async def _baseline(pool: asyncpg.Pool, event: uuid.UUID, users: list[uuid.UUID], concurrency: int) -> float:
    """The common way (`loadtests.baseline`): a transaction per booking, the event row locked FOR UPDATE."""
    queue = list(users)

    async def one(user: uuid.UUID) -> None:
        async with pool.acquire() as conn:
            await book_for_update(conn, event, user, 1)

    async def worker() -> None:
        while queue:
            await one(queue.pop())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(users) / (time.perf_counter() - start)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bookings", type=int, default=20000)
    parser.add_argument("--slots", type=int, default=500)
    parser.add_argument("--baseline-bookings", type=int, default=3000)
    args = parser.parse_args()

    engine_settings = Settings.from_env(os.environ).engine  # the defaults, or HAPPENING_ENGINE_* to try others
    async with environment("bench", engine_settings, pool_size=20) as env:
        pool, redis, settings = env.pool, env.redis, env.settings
        users, hot, base_event = await _setup(pool, args.bookings, args.slots)
        engine = Engine(pool, redis, settings)
        await engine.send(Book(hot, users[0], 1))  # activate the actor (cache rebuild) before timing
        latencies: list[float] = []

        async def book(user: uuid.UUID) -> None:
            t = time.perf_counter()
            await engine.send(Book(hot, user, 1))
            latencies.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(book(u) for u in users[1:]))
        elapsed = time.perf_counter() - start
        await engine.stop()
        rate = (len(users) - 1) / elapsed
        latencies.sort()
        problems = await check(pool, redis, settings.redis.prefix, hot)
        base_rate = await _baseline(pool, base_event, users[:args.baseline_bookings], concurrency=50)
        result = {
            "engine_book_commands_per_s": round(rate),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1),
            "baseline_select_for_update_per_s": round(base_rate),
            "ratio": round(rate / base_rate, 1),
            "invariant_violations": problems,
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    import logging

    import uvloop

    from happening_engine.logs import configure_logging
    configure_logging("console", level=logging.WARNING)  # figures only, not one line per actor
    uvloop.run(main())
