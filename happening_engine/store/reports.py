"""Reports on one event for its organizers (reads only): counts and timeline in one snapshot; the export in
keyset pages on (created_at, id), so a large event never sits in memory nor holds a connection."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from . import Executor

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
# The timeline replays booking_history: each row changes the confirmed seats and the waiting count
# (created, promoted, cancelled by its previous status). Rows are grouped in buckets of whole minutes,
# wide enough that there are at most $2 of them; each point is the state after its bucket's last change.
TIMELINE = """
with changes as (
    select h.created_at,
           case when h.action = 'promoted' or (h.action = 'created' and h.details->>'status' = 'confirmed')
                    then b.seats
                when h.action in ('cancelled', 'event_cancelled') and h.details->>'previous_status' = 'confirmed'
                    then -b.seats
                else 0 end as seats,
           case when h.action = 'created' and h.details->>'status' = 'waiting' then 1
                when h.action = 'promoted'
                     or (h.action in ('cancelled', 'event_cancelled') and h.details->>'previous_status' = 'waiting')
                    then -1
                else 0 end as waiting
    from booking_history h join bookings b on b.id = h.booking_id
    where b.event_id = $1
), span as (
    select min(created_at) as first,
           interval '1 minute' * greatest(1, ceil(extract(epoch from max(created_at) - min(created_at)) / 60 / $2))
               as width
    from changes
), buckets as (
    select date_bin(s.width, c.created_at, s.first) as bucket, max(c.created_at) as at,
           sum(c.seats) as seats, sum(c.waiting) as waiting, extract(epoch from s.width)::int as width
    from changes c cross join span s
    group by 1, s.width
)
select at, (sum(seats) over w)::int as confirmed_seats, (sum(waiting) over w)::int as waiting_bookings, width
from buckets window w as (order by bucket) order by bucket
"""
MAX_POINTS = 60
EXPORT_PAGE = """
select b.id, u.email, u.full_name, b.seats, b.status, b.waiting_number, b.created_at, b.updated_at
from bookings b join users u on u.id = b.user_id
where b.event_id = $1 and ($2::timestamptz is null or (b.created_at, b.id) > ($2, $3))
order by b.created_at, b.id
limit $4
"""


async def stats(db: Executor, event_id: UUID) -> dict[str, Any] | None:
    """The event's counts, `fill_rate` (confirmed seats / total slots, 0..1) and `timeline` (at most
    MAX_POINTS points `{at, confirmed_seats, waiting_bookings}`, oldest first, the bucket width in
    `timeline_bucket_seconds`); None if no such event. For one snapshot, pass a connection in a
    repeatable-read transaction."""
    row = await db.fetchrow(STATS, event_id)
    points = await db.fetch(TIMELINE, event_id, MAX_POINTS)
    if row is None:
        return None
    out = dict(row)
    out["fill_rate"] = round(row["confirmed_seats"] / row["total_slots"], 4)
    out["timeline"] = [{"at": p["at"], "confirmed_seats": p["confirmed_seats"],
                        "waiting_bookings": p["waiting_bookings"]} for p in points]
    out["timeline_bucket_seconds"] = points[0]["width"] if points else 60
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
