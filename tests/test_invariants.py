"""The invariant checker finds what it exists to find, and `happening check-invariants` exits 1 on it."""
from __future__ import annotations

import asyncio
import os
import sys

from happening_engine.commands import Book
from happening_engine.constants import event_key
from happening_engine.engine import Engine
from happening_engine.invariants import check
from loadtests.fixtures import make_event, make_org, make_users


async def run_cli(settings, event) -> tuple[int, str]:
    env = {**os.environ, "HAPPENING_DATABASE_URL": settings.database.url, "HAPPENING_REDIS_URL": settings.redis.url,
           "HAPPENING_REDIS_PREFIX": settings.redis.prefix, "HAPPENING_LOG_FORMAT": "json"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "happening.cli", "check-invariants", "--event", str(event),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_checker_reports_each_kind_of_violation(pool, redis, settings):
    users = await make_users(pool, 4)
    org = await make_org(pool, users[0])
    event = await make_event(pool, org, total=2)
    engine = Engine(pool, redis, settings)
    try:
        for user in users[:3]:
            await engine.send(Book(event, user, 1))  # 2 confirmed, 1 waiting
    finally:
        await engine.stop()
    prefix = settings.redis.prefix
    assert await check(pool, redis, prefix, event) == []
    code, out = await run_cli(settings, event)
    assert code == 0 and "invariants hold" in out

    await redis.set(event_key(prefix, event, "slots"), 5)  # Redis disagrees with PostgreSQL
    await redis.delete(event_key(prefix, event, "waitlist"))  # the waiting booking vanished from Redis
    problems = await check(pool, redis, prefix, event)
    assert any("Redis slots 5" in p for p in problems)
    assert any("Redis waitlist" in p for p in problems)
    code, out = await run_cli(settings, event)
    assert code == 1 and out.count("VIOLATION") == len(problems)

    # oversell and a booking without history, written behind the engine's back
    await pool.execute("insert into bookings (event_id, user_id, seats, status, confirmed_at)"
                       " values ($1, $2, 1, 'confirmed', now())", event, users[3])
    problems = await check(pool, redis, prefix, event)
    assert any("exceed total_slots" in p for p in problems)
    assert any("no 'created' history" in p for p in problems)
    await pool.execute("delete from bookings where event_id = $1", event)
    for name in ("slots", "waitlist", "meta", "holders"):
        await redis.delete(event_key(prefix, event, name))
