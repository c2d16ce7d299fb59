"""Time moves events on without a request, while the engine runs and for time that passed while it was down."""
from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID

import asyncpg
import pytest
from redis.asyncio import Redis

from happening_engine.commands import Book
from happening_engine.config import Settings
from happening_engine.engine import Engine
from happening_engine.errors import Conflict
from happening_engine.lifecycle import LifecycleClock
from loadtests.fixtures import assert_invariants, make_event, make_org, make_users, wait_until


@pytest.fixture
async def engine(pool: asyncpg.Pool, redis: Redis, settings: Settings) -> AsyncIterator[Engine]:
    engine = Engine(pool, redis, settings)
    yield engine
    await engine.stop()


def clock(pool: asyncpg.Pool, engine: Engine, settings: Settings) -> LifecycleClock:
    return LifecycleClock(pool, engine, dataclasses.replace(settings.engine, lifecycle_interval=0.1))


async def wait_for_status(pool: asyncpg.Pool, event: UUID, status: str, seconds: float = 15) -> None:
    async def reached() -> bool:
        return await pool.fetchval("select status from events where id = $1", event) == status  # type: ignore[no-any-return]

    await wait_until(reached, seconds, f"event {event} to become {status}")


async def test_events_cross_their_times_while_the_engine_runs(engine, pool, settings):
    owner, user = await make_users(pool, 2)
    org = await make_org(pool, owner)
    event = await make_event(pool, org, total=10, starts_in=timedelta(seconds=1.5), duration=timedelta(seconds=1.5))
    await engine.send(Book(event, owner, 1))  # bookable while upcoming
    ticking = clock(pool, engine, settings)
    await ticking.start()
    try:
        await wait_for_status(pool, event, "ongoing")
        with pytest.raises(Conflict):
            await engine.send(Book(event, user, 1))
        await wait_for_status(pool, event, "completed")
    finally:
        await ticking.stop()
    transitions = await pool.fetch("select before->>'status' as f, after->>'status' as t from audit_log"
                                   " where entity_id = $1 and action = 'status_changed' order by id", event)
    assert [(r["f"], r["t"]) for r in transitions] == [("upcoming", "ongoing"), ("ongoing", "completed")]


async def test_time_that_passed_while_the_engine_was_down_is_caught_up(engine, pool, settings):
    (owner,) = await make_users(pool, 1)
    org = await make_org(pool, owner)
    # written while no engine ran: their times have passed but their status has not moved
    started = await make_event(pool, org, total=5, starts_in=-timedelta(hours=1), duration=timedelta(hours=3))
    ended = await make_event(pool, org, total=5, starts_in=-timedelta(hours=5), duration=timedelta(hours=1))
    future = await make_event(pool, org, total=5, starts_in=timedelta(days=1))
    draft = await make_event(pool, org, total=5, status="draft", starts_in=-timedelta(hours=5),
                             duration=timedelta(hours=1))
    # two clocks of one shard: the advisory lock lets one sweep at a time, and each change happens once
    first, second = clock(pool, engine, settings), clock(pool, engine, settings)
    await asyncio.gather(first.start(), second.start())
    try:
        await wait_for_status(pool, started, "ongoing")
        await wait_for_status(pool, ended, "completed")
    finally:
        await asyncio.gather(first.stop(), second.stop())
    assert await pool.fetchval("select status from events where id = $1", future) == "upcoming"
    assert await pool.fetchval("select status from events where id = $1", draft) == "draft"
    changes = await pool.fetchval("select count(*) from audit_log where action = 'status_changed'"
                                  " and entity_id = any($1::uuid[])", [started, ended])
    assert changes == 2


async def test_the_clock_deletes_idempotency_keys_past_24_hours(engine, pool, settings):
    old_user, new_user = await make_users(pool, 2)
    await pool.execute("insert into idempotency_keys (user_id, key, request_hash, created_at) values"
                       " ($1, 'old', 'h', now() - interval '25 hours'), ($2, 'new', 'h', now())", old_user, new_user)
    await clock(pool, engine, settings).sweep()
    left = await pool.fetch("select key from idempotency_keys where user_id = any($1::uuid[])", [old_user, new_user])
    assert [r["key"] for r in left] == ["new"]


async def test_the_waitlist_closes_when_the_event_starts(engine, pool, redis, settings):

    users = await make_users(pool, 4)
    org = await make_org(pool, users[0])
    event = await make_event(pool, org, total=1, starts_in=timedelta(seconds=1.5), duration=timedelta(hours=1))
    results = [await engine.send(Book(event, u, 1)) for u in users[1:]]
    assert [r["status"] for r in results] == ["confirmed", "waiting", "waiting"]
    ticking = clock(pool, engine, settings)
    await ticking.start()
    try:
        await wait_for_status(pool, event, "ongoing")
    finally:
        await ticking.stop()
    statuses = [await pool.fetchval("select status from bookings where id = $1", UUID(r["id"])) for r in results]
    assert statuses == ["confirmed", "cancelled", "cancelled"]  # the confirmed booking stays
    told = await pool.fetch("select user_id, payload->>'reason' as reason from notifications"
                            " where event_id = $1 and type = 'booking_cancelled'", event)
    assert sorted((r["user_id"], r["reason"]) for r in told) == sorted((u, "waitlist_closed") for u in users[2:])
    assert await pool.fetchval("select waiting_count from events where id = $1", event) == 0
    await assert_invariants(pool, redis, settings.redis.prefix, event)
