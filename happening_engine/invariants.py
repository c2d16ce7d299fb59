"""The booking invariants of docs/contract.md §4, checked against PostgreSQL and Redis, whenever no command
is in flight. Missing Redis keys are a cold cache (rebuilt before the next decision), not a violation."""
from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import asyncpg

from .config import Settings
from .connections import RedisClient
from .constants import event_key
from .seats import WaitEntry
from .store import Executor


async def check(pool: Executor, redis: RedisClient, prefix: str, event_id: UUID | None = None,
                notifications_settled_after: timedelta | None = None) -> list[str]:
    """Every violation found, as a readable line; [] when all invariants hold.

    `notifications_settled_after`: also report notifications still pending after this long (invariant 5).
    """
    problems: list[str] = []
    events = await pool.fetch(
        """
        select e.id, e.total_slots, e.confirmed_seats, e.waiting_count,
               coalesce(sum(b.seats) filter (where b.status = 'confirmed'), 0) as confirmed,
               count(b.id) filter (where b.status = 'waiting') as waiting
        from events e left join bookings b on b.event_id = e.id
        where $1::uuid is null or e.id = $1
        group by e.id
        """, event_id)
    for ev in events:
        problems += await _event_problems(pool, redis, prefix, ev)
    problems += await _booking_problems(pool, event_id)
    if notifications_settled_after is not None:
        problems += await _notification_problems(pool, event_id, notifications_settled_after)
    return problems


async def _event_problems(pool: Executor, redis: RedisClient, prefix: str, ev: asyncpg.Record) -> list[str]:
    """One event's seats: its counters, its waitlist's head, and its Redis keys against PostgreSQL."""
    problems: list[str] = []
    eid, total, confirmed = ev["id"], ev["total_slots"], ev["confirmed"]
    if confirmed > total:
        problems.append(f"event {eid}: confirmed seats {confirmed} exceed total_slots {total}")
    if (ev["confirmed_seats"], ev["waiting_count"]) != (confirmed, ev["waiting"]):
        problems.append(f"event {eid}: counters (confirmed {ev['confirmed_seats']}, waiting"
                        f" {ev['waiting_count']}) != bookings (confirmed {confirmed}, waiting {ev['waiting']})")
    slots, meta_total, raw_waitlist = await _redis_state(redis, prefix, eid)
    waiting = await pool.fetch("select id, user_id, seats from bookings where event_id = $1"
                               " and status = 'waiting' order by waiting_number", eid)
    available = total - confirmed
    if waiting and waiting[0]["seats"] <= available:
        problems.append(f"event {eid}: waitlist head {waiting[0]['id']} needs {waiting[0]['seats']} seats"
                        f" but {available} are available")
    if slots is None and meta_total is None and not raw_waitlist:
        return problems  # cold cache
    if slots is None or int(slots) != available:
        problems.append(f"event {eid}: Redis slots {slots} != total_slots - confirmed = {available}")
    if meta_total is not None and int(meta_total) != total:
        problems.append(f"event {eid}: Redis total {meta_total} != total_slots {total}")
    expected = [WaitEntry(r["id"], r["user_id"], r["seats"]).encode() for r in waiting]
    if raw_waitlist != expected:
        problems.append(f"event {eid}: Redis waitlist ({len(raw_waitlist)} entries) differs from the"
                        f" {len(expected)} waiting bookings ordered by waiting_number")
    return problems


async def _booking_problems(pool: Executor, event_id: UUID | None) -> list[str]:
    """One active booking per user and event; every booking's 'created' history row."""
    scope = "($1::uuid is null or b.event_id = $1)"
    duplicates = await pool.fetch(
        f"select event_id, user_id, count(*) as n from bookings b where status in ('confirmed', 'waiting')"
        f" and {scope} group by event_id, user_id having count(*) > 1", event_id)
    unrecorded = await pool.fetch(
        f"select b.id from bookings b where {scope} and not exists (select 1 from booking_history h"
        f" where h.booking_id = b.id and h.action = 'created')", event_id)
    return ([f"event {row['event_id']}: user {row['user_id']} has {row['n']} active bookings" for row in duplicates]
            + [f"booking {row['id']} has no 'created' history row" for row in unrecorded])


async def _notification_problems(pool: Executor, event_id: UUID | None, after: timedelta) -> list[str]:
    """Invariant 5: no notification still pending `after` it was written."""
    stuck = await pool.fetchval(
        "select count(*) from notifications where status = 'pending' and created_at < now() - $1::interval"
        " and ($2::uuid is null or event_id = $2)", after, event_id)
    return [f"{stuck} notification(s) still pending after {after}"] if stuck else []


async def _redis_state(redis: RedisClient, prefix: str, event_id: UUID) -> tuple[str | None, str | None, list[str]]:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.get(event_key(prefix, event_id, "slots"))
        pipe.hget(event_key(prefix, event_id, "meta"), "total")
        pipe.lrange(event_key(prefix, event_id, "waitlist"), 0, -1)
        slots, total, waitlist = await pipe.execute()
    return slots, total, waitlist


async def check_main(settings: Settings, event: str | None) -> int:
    """`happening check-invariants`: print each violation; exit status 1 if there is any."""
    from .connections import create_redis
    from .db import create_pool

    pool = await create_pool(settings.database)
    redis = create_redis(settings.redis)
    try:
        problems = await check(pool, redis, settings.redis.prefix, UUID(event) if event else None,
                               notifications_settled_after=timedelta(minutes=5))
    finally:
        await pool.close()
        await redis.aclose()
    for line in problems:
        print(f"VIOLATION {line}")
    print("invariants hold" if not problems else f"{len(problems)} violation(s)")
    return 1 if problems else 0
