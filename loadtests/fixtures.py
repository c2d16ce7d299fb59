"""What the tests and the benchmarks set up and check, in one place: rows written straight to PostgreSQL
(users, organizations, events, notifications, a fault in the booking insert), `wait_until` and the
invariant assertion over the product's checker (`happening_engine.invariants`).

It lives here, not under tests/, because loadtests must not import tests (tests import loadtests); it
imports no pytest. Tests that act as a user do so over HTTP instead (tests/conftest.py's fixtures).
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from happening_engine.connections import RedisClient
from happening_engine.invariants import check


async def make_users(pool: asyncpg.Pool, n: int) -> list[UUID]:
    """`n` users with unique addresses (`u<i>-<tag>@example.test`), named `User <i>`."""
    tag = uuid.uuid4().hex[:8]
    rows = await pool.fetch(
        "insert into users (keycloak_id, email, full_name)"
        " select 'kc-' || $1 || '-' || i, 'u' || i || '-' || $1 || '@example.test', 'User ' || i"
        " from generate_series(1, $2) i returning id", tag, n)
    return [r["id"] for r in rows]


async def make_user(pool: asyncpg.Pool, email: str | None = None, name: str = "Ada Lovelace") -> UUID:
    """One user with this address (default: a unique one) and full name."""
    made: UUID = await pool.fetchval(
        "insert into users (keycloak_id, email, full_name) values ($1, $2, $3) returning id",
        uuid.uuid4().hex, email or f"u{uuid.uuid4().hex[:8]}@example.test", name)
    return made


async def make_org(pool: asyncpg.Pool, owner: UUID | None = None, name: str = "Org") -> UUID:
    """An organization; `owner`, if given, created it and is its orgAdmin."""
    org: UUID = await pool.fetchval("insert into organizations (name, created_by) values ($1, $2) returning id",
                              name, owner)
    if owner is not None:
        await pool.execute("insert into organization_users (org_id, user_id, role) values ($1, $2, 'orgAdmin')",
                           org, owner)
    return org


async def make_event(pool: asyncpg.Pool | asyncpg.Connection, org: UUID, total: int = 100, *, name: str = "Show",
                     max_seats: int = 10, status: str = "upcoming", starts_at: datetime | None = None,
                     starts_in: timedelta = timedelta(days=7), duration: timedelta = timedelta(hours=3),
                     event_id: UUID | None = None) -> UUID:
    """A concert of `org` with `total` seats, starting at `starts_at` (default: `starts_in` from now);
    published unless it is a draft. `event_id`: its id, when the test needs one of its choosing (a shard's)."""
    starts = starts_at or datetime.now(UTC) + starts_in
    published = None if status == "draft" else datetime.now(UTC)
    made: UUID = await pool.fetchval(
        "insert into events (id, org_id, name, category, status, starts_at, ends_at, total_slots,"
        " max_seats_per_booking, published_at)"
        " values (coalesce($9, gen_random_uuid()), $1, $2, 'concert', $3, $4, $5, $6, $7, $8) returning id",
        org, name, status, starts, starts + duration, total, max_seats, published, event_id)
    return made


async def make_notification(pool: asyncpg.Pool, user: UUID | None, kind: str, *, recipient: str | None,
                            event: UUID | None = None, org: UUID | None = None, channel: str = "email",
                            message: str = "", payload: dict[str, Any] | None = None) -> UUID:
    """A pending `notifications` row (the outbox), as a change's transaction writes it."""
    made: UUID = await pool.fetchval(
        "insert into notifications (user_id, org_id, event_id, type, channel, recipient, message, payload)"
        " values ($1, $2, $3, $4, $5, $6, $7, $8) returning id",
        user, org, event, kind, channel, recipient, message, payload or {})
    return made


@contextlib.asynccontextmanager
async def failing_inserts(pool: asyncpg.Pool, column: str, *values: UUID, delay: float = 0.0) -> AsyncIterator[None]:
    """While inside, PostgreSQL refuses every booking insert whose `column` is one of `values` (after
    `delay` seconds: a slow failure): a fault injected into the engine's write path."""
    listed = ", ".join(f"'{v}'" for v in values)
    await pool.execute(f"""
        create or replace function fail_injected() returns trigger language plpgsql as $$
        begin
            if new.{column} in ({listed}) then
                perform pg_sleep({delay});
                raise exception 'injected failure';
            end if;
            return new;
        end $$;
        create trigger fail_injected before insert on bookings for each row execute function fail_injected();
    """)
    try:
        yield
    finally:
        await pool.execute("drop trigger fail_injected on bookings; drop function fail_injected();")


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll `check` every 50 ms until it is true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def assert_invariants(pool: asyncpg.Pool | asyncpg.Connection, redis: RedisClient, prefix: str,
                            event: UUID | None = None) -> None:
    """AssertionError listing every violation of contract §4 (`happening_engine.invariants.check`) for
    `event` (default: every event) under the Redis key `prefix`."""
    problems = await check(pool, redis, prefix, event)
    assert not problems, "invariants violated:\n" + "\n".join(problems)
