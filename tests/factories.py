"""Rows for engine tests, inserted directly (the API tests create them through HTTP instead)."""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg


async def make_users(pool: asyncpg.Pool, n: int) -> list[UUID]:
    tag = uuid.uuid4().hex[:8]
    rows = await pool.fetch(
        "insert into users (keycloak_id, email, full_name)"
        " select 'kc-' || $1 || '-' || i, 'u' || i || '-' || $1 || '@example.test', 'User ' || i"
        " from generate_series(1, $2) i returning id", tag, n)
    return [r["id"] for r in rows]


async def make_org(pool: asyncpg.Pool, owner: UUID) -> UUID:
    org = await pool.fetchval("insert into organizations (name, created_by) values ('Org', $1) returning id", owner)
    await pool.execute("insert into organization_users (org_id, user_id, role) values ($1, $2, 'orgAdmin')",
                       org, owner)
    return org  # type: ignore[no-any-return]


async def make_event(pool: asyncpg.Pool, org: UUID, total: int, *, max_seats: int = 10,
                     status: str = "upcoming", starts_in: timedelta = timedelta(days=7),
                     duration: timedelta = timedelta(hours=3)) -> UUID:
    starts = datetime.now(UTC) + starts_in
    published = None if status == "draft" else datetime.now(UTC)
    return await pool.fetchval(  # type: ignore[no-any-return]
        "insert into events (org_id, name, category, status, starts_at, ends_at, total_slots,"
        " max_seats_per_booking, published_at) values ($1, 'Show', 'concert', $2, $3, $4, $5, $6, $7)"
        " returning id", org, status, starts, starts + duration, total, max_seats, published)


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
