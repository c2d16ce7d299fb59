"""The baseline booking: how a booking is commonly done, to compare the engine against.

One PostgreSQL transaction per booking with `SELECT ... FOR UPDATE` on the event row (so bookings of
one event run one at a time), no Redis, no batching. It writes what the engine writes per booking: the
booking row, its `created` history row, a notification row (the outbox) and an audit row, and answers
the same decision (confirmed if seats fit, else the tail of the waitlist; a second active booking is a
409).
Used by `loadtests.engine_bench` (in-process) and `loadtests.baseline_app` (behind the HTTP stack).
It never touches Redis, so the invariant checker's Redis comparisons do not hold for its events.
"""
from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from happening_engine.actors import messages
from happening_engine.errors import Conflict
from happening_engine.store import Conn

LOCK_EVENT = ("select org_id, name, starts_at, status, total_slots, confirmed_seats, waiting_count"
              " from events where id = $1 for update")
# the event's counters (as the engine keeps them), not aggregates over its bookings in the lock
COUNT_CONFIRMED = "update events set confirmed_seats = confirmed_seats + $2 where id = $1"
NEXT_WAITING_NUMBER = ("update events set last_waiting_number = last_waiting_number + 1,"
                       " waiting_count = waiting_count + 1 where id = $1 returning last_waiting_number")
INSERT_BOOKING = """
insert into bookings (event_id, user_id, seats, status, waiting_number, confirmed_at)
values ($1, $2, $3, $4, $5, case when $4 = 'confirmed' then now() end)
returning id, status, seats, waiting_number
"""
INSERT_HISTORY = "insert into booking_history (booking_id, action, details) values ($1, 'created', $2)"
INSERT_AUDIT = ("insert into audit_log (org_id, actor_id, entity, entity_id, action, after)"
                " values ($1, $2, 'booking', $3, 'created', $4)")
INSERT_NOTIFICATION = """
insert into notifications (user_id, org_id, event_id, booking_id, type, recipient, message)
select $1, $2, $3, $4, $5, u.email, $6 from users u where u.id = $1
"""


async def book_for_update(conn: Conn, event_id: UUID, user_id: UUID, seats: int) -> dict[str, Any]:
    """Book in one transaction holding the event row's lock; `Conflict` if not bookable or a duplicate."""
    async with conn.transaction():
        event = await conn.fetchrow(LOCK_EVENT, event_id)
        if event is None or event["status"] != "upcoming":
            raise Conflict("event is not open for booking")
        waiting_count = event["waiting_count"]
        confirmed = waiting_count == 0 and event["confirmed_seats"] + seats <= event["total_slots"]
        number = None  # one counter update either way (a duplicate's 409 rolls it back with the rest)
        if confirmed:
            await conn.execute(COUNT_CONFIRMED, event_id, seats)
        else:
            number = await conn.fetchval(NEXT_WAITING_NUMBER, event_id)
        try:
            booking = await conn.fetchrow(INSERT_BOOKING, event_id, user_id, seats,
                                          "confirmed" if confirmed else "waiting", number)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict("you already have an active booking for this event") from exc
        assert booking is not None, "INSERT ... RETURNING returns the row"
        position = None if confirmed else waiting_count + 1
        details = {"status": booking["status"], "seats": seats, "waiting_number": number}
        await conn.execute(INSERT_HISTORY, booking["id"], {**details, "position": position})
        kind = "booking_confirmed" if confirmed else "booking_waitlisted"
        await conn.execute(INSERT_NOTIFICATION, user_id, event["org_id"], event_id, booking["id"], kind,
                           messages.one_line(kind, event, seats, position))
        await conn.execute(INSERT_AUDIT, event["org_id"], user_id, booking["id"], details)
    return {"id": booking["id"], "event_id": event_id, "user_id": user_id, "seats": seats,
            "status": booking["status"], "waiting_number": number, "position": position}
