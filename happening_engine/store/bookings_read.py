"""Booking reads for the API: one booking, mine, an event's bookings and waitlist, history.

Bookings are written only by the engine; `position` (1-based waitlist place) is computed here.
"""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from . import Executor

COLUMNS = """
b.id, b.event_id, b.user_id, b.seats, b.status, b.waiting_number,
case when b.status = 'waiting' then (
    select count(*) from bookings w where w.event_id = b.event_id and w.status = 'waiting'
      and w.waiting_number <= b.waiting_number)::int end as position,
b.created_at, b.updated_at, e.name as event_name
"""
SELECT = f"select {COLUMNS} from bookings b join events e on e.id = b.event_id"
# an event's bookings as its organizers see them: with the booker's email and name
BOOKER = (f"select {COLUMNS}, u.email as user_email, u.full_name as user_name"
          " from bookings b join events e on e.id = b.event_id join users u on u.id = b.user_id")


async def get(db: Executor, booking_id: UUID) -> asyncpg.Record | None:
    return await db.fetchrow(SELECT + " where b.id = $1", booking_id)


async def by_request(db: Executor, event_id: UUID, user_id: UUID, request_id: str) -> asyncpg.Record | None:
    """The booking one request of this user made for this event, if it was committed."""
    return await db.fetchrow(SELECT + " where b.event_id = $1 and b.user_id = $2 and b.request_id = $3",
                             event_id, user_id, request_id)


async def list_for_user(db: Executor, user_id: UUID, after: tuple[datetime, UUID] | None, limit: int, *,
                        event_id: UUID | None = None, status: str | None = None) -> list[asyncpg.Record]:
    """The user's bookings, newest first; only one event's, or one status, when given."""
    return await db.fetch(
        SELECT + " where b.user_id = $1 and ($2::timestamptz is null or (b.created_at, b.id) < ($2, $3))"
        " and ($5::uuid is null or b.event_id = $5) and ($6::text is null or b.status = $6)"
        " order by b.created_at desc, b.id desc limit $4",
        user_id, after[0] if after else None, after[1] if after else None, limit + 1, event_id, status)




async def list_for_event(db: Executor, event_id: UUID, status: str | None,
                         after: tuple[datetime, UUID] | None, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(
        BOOKER + " where b.event_id = $1 and ($2::text is null or b.status = $2)"
        " and ($3::timestamptz is null or (b.created_at, b.id) > ($3, $4))"
        " order by b.created_at, b.id limit $5",
        event_id, status, after[0] if after else None, after[1] if after else None, limit + 1)


async def waitlist(db: Executor, event_id: UUID, after_number: int | None, limit: int) -> list[asyncpg.Record]:
    """Waiting bookings in FCFS order (by waiting_number), with their position."""
    return await db.fetch(
        """select * from (
               select b.id, b.event_id, b.user_id, b.seats, b.status, b.waiting_number,
                      (row_number() over (order by b.waiting_number))::int as position,
                      b.created_at, b.updated_at, e.name as event_name,
                      u.email as user_email, u.full_name as user_name
               from bookings b join events e on e.id = b.event_id join users u on u.id = b.user_id
               where b.event_id = $1 and b.status = 'waiting') w
           where ($2::bigint is null or w.waiting_number > $2)
           order by w.waiting_number limit $3""",
        event_id, after_number, limit + 1)


async def history(db: Executor, booking_id: UUID, after_id: int | None, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(
        "select id, action, details, created_at from booking_history where booking_id = $1"
        " and ($2::bigint is null or id > $2) order by id limit $3", booking_id, after_id, limit + 1)


async def active_for_user(db: Executor, user_id: UUID) -> list[asyncpg.Record]:
    """The user's confirmed and waiting bookings, with positions (a live stream's snapshot)."""
    return await db.fetch(SELECT + " where b.user_id = $1 and b.status in ('confirmed', 'waiting')"
                          " order by b.created_at, b.id", user_id)
