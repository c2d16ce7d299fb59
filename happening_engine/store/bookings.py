"""The actor's writes: bookings, their history, notifications and audit rows, one batch per transaction.

Arrays go in through `unnest` and append-only rows through COPY, so a batch of hundreds of decisions
costs a handful of statements.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from .audit import record_many


@dataclass
class BookingRow:
    """A booking's state after the batch (new rows are inserted, others updated)."""

    id: UUID
    user_id: UUID
    seats: int
    status: str
    waiting_number: int | None
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    new: bool = False


@dataclass
class BatchWrite:
    """Everything one actor batch changes in PostgreSQL."""

    event_id: UUID
    org_id: UUID
    bookings: dict[UUID, BookingRow] = field(default_factory=dict)
    history: list[tuple[UUID, str, dict[str, Any], datetime]] = field(default_factory=list)
    # (user id, booking id, type, message, payload)
    notifications: list[tuple[UUID, UUID | None, str, str, dict[str, Any]]] = field(default_factory=list)
    audit: list[tuple[Any, ...]] = field(default_factory=list)
    last_waiting_number: int | None = None
    confirmed_delta: int = 0  # change of events.confirmed_seats
    waiting_delta: int = 0  # change of events.waiting_count

    def __bool__(self) -> bool:
        return bool(self.bookings or self.history or self.notifications or self.audit)


UPDATE_BOOKINGS = """
update bookings b set status = u.status, waiting_number = u.waiting_number,
    confirmed_at = u.confirmed_at, cancelled_at = u.cancelled_at, updated_at = u.updated_at
from unnest($1::uuid[], $2::text[], $3::bigint[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[])
    as u(id, status, waiting_number, confirmed_at, cancelled_at, updated_at)
where b.id = u.id
"""

INSERT_BOOKINGS = """
insert into bookings (id, event_id, user_id, seats, status, waiting_number, confirmed_at, cancelled_at,
                      created_at, updated_at)
select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::bigint[], $7::timestamptz[],
                     $8::timestamptz[], $9::timestamptz[], $10::timestamptz[])
"""

# COPY, in batch order (identity ids and the outbox's `seq` follow it). A user's notification
# names no recipient: the worker sends to the user's address as it is at send time.
HISTORY_COLUMNS = ("booking_id", "action", "details", "created_at")
NOTIFICATION_COLUMNS = ("user_id", "org_id", "event_id", "booking_id", "type", "message", "payload")

UPDATE_EVENTS = """
update events e set last_waiting_number = greatest(e.last_waiting_number, coalesce(u.last_waiting_number, 0)),
                    confirmed_seats = e.confirmed_seats + u.confirmed_delta,
                    waiting_count = e.waiting_count + u.waiting_delta
from unnest($1::uuid[], $2::bigint[], $3::int[], $4::int[])
    as u(id, last_waiting_number, confirmed_delta, waiting_delta)
where e.id = u.id
"""


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(col) for col in zip(*rows)] if rows else [[] for _ in range(width)]


async def write_batch(conn: asyncpg.Connection, batch: BatchWrite) -> None:
    await write_batches(conn, [batch])


async def write_batches(conn: asyncpg.Connection, batches: list[BatchWrite]) -> None:
    """Apply batches of any events in one go (six statements at most); the caller holds the transaction."""
    rows = [(b, batch.event_id) for batch in batches for b in batch.bookings.values()]
    old = [b for b, _ in rows if not b.new]
    new = [(b.id, event, b.user_id, b.seats, b.status, b.waiting_number, b.confirmed_at, b.cancelled_at,
            b.created_at, b.updated_at) for b, event in rows if b.new]
    if old:  # first, so that a cancellation frees the one-active-booking slot before a new insert
        await conn.execute(UPDATE_BOOKINGS, [b.id for b in old], [b.status for b in old],
                           [b.waiting_number for b in old], [b.confirmed_at for b in old],
                           [b.cancelled_at for b in old], [b.updated_at for b in old])
    if new:
        await conn.execute(INSERT_BOOKINGS, *_columns(new, 10))
    history = [h for batch in batches for h in batch.history]
    if history:
        await conn.copy_records_to_table("booking_history", records=history, columns=HISTORY_COLUMNS)
    notifications = [(n[0], batch.org_id, batch.event_id, *n[1:]) for batch in batches for n in batch.notifications]
    if notifications:
        await conn.copy_records_to_table("notifications", records=notifications, columns=NOTIFICATION_COLUMNS)
    await record_many(conn, [a for batch in batches for a in batch.audit])
    counters: dict[UUID, list[Any]] = {}  # per event: one row of UPDATE ... FROM may change it once
    for b in batches:
        if b.last_waiting_number is not None or b.confirmed_delta or b.waiting_delta:
            row = counters.setdefault(b.event_id, [b.event_id, None, 0, 0])
            row[1] = max(row[1] or 0, b.last_waiting_number or 0) or None
            row[2] += b.confirmed_delta
            row[3] += b.waiting_delta
    if counters:
        await conn.execute(UPDATE_EVENTS, *_columns([tuple(r) for r in counters.values()], 4))


async def fetch_bookings(conn: asyncpg.Connection | asyncpg.Pool, ids: list[UUID]) -> dict[UUID, asyncpg.Record]:
    rows = await conn.fetch("select id, event_id, user_id, seats, status, waiting_number, confirmed_at,"
                            " cancelled_at, created_at, updated_at from bookings where id = any($1::uuid[])",
                            ids)
    return {r["id"]: r for r in rows}


async def seat_state(conn: asyncpg.Connection | asyncpg.Pool, event_id: UUID) -> tuple[int, list[asyncpg.Record],
                                                                                      list[asyncpg.Record]]:
    """(confirmed seats, waiting bookings by waiting number, active bookings) from the truth."""
    active = await conn.fetch("select id, user_id, seats, status, waiting_number from bookings"
                              " where event_id = $1 and status in ('confirmed', 'waiting')", event_id)
    confirmed = sum(r["seats"] for r in active if r["status"] == "confirmed")
    waiting = sorted((r for r in active if r["status"] == "waiting"), key=lambda r: r["waiting_number"])
    return confirmed, waiting, active
