"""Reports on one event for its organizers: seat and booking counts, and the bookings export.

Reads only. The counts come from one statement (one snapshot); the export is read in keyset pages
on (created_at, id), so a large event never sits in memory and no connection is held while a slow
client downloads: each booking appears once, in the state its page was read in.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

PAGE_SIZE = 500
STATS = """
select e.id as event_id, e.total_slots,
       coalesce(sum(b.seats) filter (where b.status = 'confirmed'), 0)::int as confirmed_seats,
       count(b.id) filter (where b.status = 'confirmed')::int as confirmed_bookings,
       count(b.id) filter (where b.status = 'waiting')::int as waiting_bookings,
       coalesce(sum(b.seats) filter (where b.status = 'waiting'), 0)::int as waiting_seats,
       count(b.id) filter (where b.status = 'cancelled')::int as cancelled_bookings,
       (select count(*) from booking_history h join bookings p on p.id = h.booking_id
        where p.event_id = e.id and h.action = 'promoted')::int as promotions
from events e left join bookings b on b.event_id = e.id
where e.id = $1
group by e.id
"""
EXPORT_PAGE = """
select b.id, u.email, u.full_name, b.seats, b.status, b.waiting_number, b.created_at, b.updated_at
from bookings b join users u on u.id = b.user_id
where b.event_id = $1 and ($2::timestamptz is null or (b.created_at, b.id) > ($2, $3))
order by b.created_at, b.id
limit $4
"""


async def stats(db: asyncpg.Pool | asyncpg.Connection, event_id: UUID) -> dict[str, Any] | None:
    """The event's counts and `fill_rate` (confirmed seats / total slots, 0..1); None if no such event."""
    row = await db.fetchrow(STATS, event_id)
    if row is None:
        return None
    out = dict(row)
    out["fill_rate"] = round(row["confirmed_seats"] / row["total_slots"], 4)
    return out


async def booking_pages(pool: asyncpg.Pool, event_id: UUID,
                        page_size: int | None = None) -> AsyncIterator[list[asyncpg.Record]]:
    """The event's bookings with their user's email and name, oldest first, a page (default
    PAGE_SIZE rows) at a time."""
    page_size = page_size or PAGE_SIZE
    after: tuple[datetime, UUID] | None = None
    while True:
        rows = await pool.fetch(EXPORT_PAGE, event_id, after[0] if after else None,
                                after[1] if after else None, page_size)
        if rows:
            yield rows
        if len(rows) < page_size:
            return
        after = (rows[-1]["created_at"], rows[-1]["id"])
