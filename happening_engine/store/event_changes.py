"""The actor's event-level SQL: load, publish, update, cancel (with its bookings), move on in time."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from . import Conn, Executor

EVENT_COLUMNS = ("id, org_id, name, description, category, status, visibility, starts_at, ends_at, total_slots,"
                 " max_seats_per_booking, last_waiting_number, confirmed_seats, waiting_count, published_at,"
                 " cancelled_at, created_at, updated_at")
UPDATABLE = ("name", "description", "category", "starts_at", "ends_at", "total_slots", "max_seats_per_booking",
             "visibility", "status", "published_at", "cancelled_at",
             "confirmed_seats", "waiting_count")


async def load_event(conn: Executor, event_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"select {EVENT_COLUMNS} from events where id = $1", event_id)


async def update_event(conn: Conn, event_id: UUID, changes: dict[str, Any],
                       updated_at: datetime) -> asyncpg.Record:
    """Set the given columns (names checked against UPDATABLE) and return the new row."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    names = list(changes)
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=3))
    row = await conn.fetchrow(
        f"update events set {sets}, updated_at = $2 where id = $1 returning {EVENT_COLUMNS}",
        event_id, updated_at, *(changes[n] for n in names))
    assert row is not None
    return row


async def cancel_bookings(conn: Conn, event_id: UUID, statuses: tuple[str, ...],
                          at: datetime) -> list[asyncpg.Record]:
    """Cancel the event's bookings in `statuses`; returns them with their previous status."""
    return await conn.fetch(
        """
        update bookings b set status = 'cancelled', waiting_number = null, confirmed_at = null,
                              cancelled_at = $2, updated_at = $2
        from (select id, status, waiting_number from bookings
              where event_id = $1 and status = any($3::text[]) for update) old
        where b.id = old.id
        returning b.id, b.user_id, b.seats, old.status as previous_status, old.waiting_number
        """, event_id, at, list(statuses))


async def active_bookers(conn: Conn, event_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch("select id, user_id, seats, status from bookings"
                            " where event_id = $1 and status in ('confirmed', 'waiting')", event_id)
