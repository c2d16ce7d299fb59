"""The actor's writes: bookings, their history, notifications and audit rows, one batch per transaction.
Arrays go in through `unnest`, one statement per batch: under load the round trips set the pace."""
from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import fields
from datetime import datetime
from operator import attrgetter
from typing import Any
from uuid import UUID

import asyncpg

from ..fencing import FENCED_STATE, LATE_STATE, Fence, as_timestamp, refusal
from . import Conn, Executor
from .booking_rows import AuditRow, BatchWrite, BookingRow, Counters, HistoryRow, NotificationRow

UPDATE_BOOKINGS = """
update bookings b set status = u.status, waiting_number = u.waiting_number,
    confirmed_at = u.confirmed_at, cancelled_at = u.cancelled_at, updated_at = u.updated_at
from unnest($1::uuid[], $2::text[], $3::bigint[], $4::timestamptz[], $5::timestamptz[], $6::timestamptz[])
    as u(id, status, waiting_number, confirmed_at, cancelled_at, updated_at)
where b.id = u.id
"""

# Everything else a batch writes, in ONE statement (one round trip; alone, it is its own transaction):
# new bookings, then history, outbox and audit rows in batch order (their identity ids and the
# outbox's `seq` follow it: `order by ord`), and the events' counters. Foreign keys are checked at
# the end of the statement, so history rows may point at bookings inserted by it. A user's
# notification names no recipient: the worker sends to the user's address as it is at send time.
# Every part waits for `fence` (happening_fence, sql/007): a sharded engine's claim on its shard,
# checked and locked in the same statement, so a fenced engine's write fails whole (HF001).
def _rows(fence: int) -> str:
    f1, f2, f3 = (f"${i}" for i in range(fence, fence + 3))
    return f"""
fence as (select happening_fence({f1}::int, {f2}::int, {f3}::bigint) as ok
), new_bookings as (
    insert into bookings (id, event_id, user_id, seats, status, waiting_number, confirmed_at, cancelled_at,
                          created_at, updated_at, request_id)
    select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::text[], $6::bigint[],
                         $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::text[])
    where (select ok from fence)
), history as (
    insert into booking_history (booking_id, action, details, created_at)
    select booking_id, action, details, created_at
    from unnest($12::uuid[], $13::text[], $14::jsonb[], $15::timestamptz[]) with ordinality
        as h(booking_id, action, details, created_at, ord)
    where (select ok from fence)
    order by ord
), outbox as (
    insert into notifications (user_id, org_id, event_id, booking_id, type, message, payload)
    select user_id, org_id, event_id, booking_id, type, message, payload
    from unnest($16::uuid[], $17::uuid[], $18::uuid[], $19::uuid[], $20::text[], $21::text[], $22::jsonb[])
        with ordinality as n(user_id, org_id, event_id, booking_id, type, message, payload, ord)
    where (select ok from fence)
    order by ord
), audit as (
    insert into audit_log (org_id, actor_id, entity, entity_id, action, before, after)
    select org_id, actor_id, entity, entity_id, action, before, after
    from unnest($23::uuid[], $24::uuid[], $25::text[], $26::uuid[], $27::text[], $28::jsonb[], $29::jsonb[])
        with ordinality as a(org_id, actor_id, entity, entity_id, action, before, after, ord)
    where (select ok from fence)
    order by ord
)
"""


def _counters(first: int, deadline: int, fenced: bool) -> str:
    """The events' counters, from four arrays starting at parameter `first`. A row past the batch's deadline is
    refused (HF002) once its lock is held, and the deadline is recorded for the transaction (sql/008) so a
    late COMMIT is refused too: the API answers 503 only after it (and a grace)."""
    a, b, c, d = (f"${i}" for i in range(first, first + 4))
    t = f"${deadline}::timestamptz"
    return f"""
    update events e
    set last_waiting_number = greatest(e.last_waiting_number, coalesce(u.last_waiting_number, 0)),
        confirmed_seats = e.confirmed_seats + u.confirmed_delta,
        waiting_count = e.waiting_count + u.waiting_delta
    from unnest({a}::uuid[], {b}::bigint[], {c}::int[], {d}::int[])
        as u(id, last_waiting_number, confirmed_delta, waiting_delta)
    where e.id = u.id{" and (select ok from fence)" if fenced else ""} and (select happening_deadline({t}))
    returning e.id, e.total_slots, e.total_slots - e.confirmed_seats, e.waiting_count,
        case when {t} is null or clock_timestamp() <= {t} then true else happening_late({t}) end
"""


# the 29 row arrays, the counters' 4, the fence's 3, the deadline; each changed event's new counters
# come back (for the live streams)
WRITE = f"with {_rows(34)}, counters as ({_counters(30, 37, fenced=True)})\nselect * from counters"
# For a batch committed behind its predecessor (`write_after`): its rows first, its counters only once
# the predecessor committed. Taken earlier, the counters' row lock would wait on the predecessor's and,
# were the predecessor's write retried, hold the very lock that retry needs while waiting for it.
WRITE_ROWS = f"with {_rows(30)}\nselect 1"
WRITE_COUNTERS = _counters(1, 5, fenced=False)


class PredecessorFailed(Exception):
    """The batch this one was decided on top of was not committed, so neither is this one."""


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(col) for col in zip(*rows)] if rows else [[] for _ in range(width)]


def _getters(row_type: type) -> list[attrgetter[Any]]:
    return [attrgetter(f.name) for f in fields(row_type)]


_HISTORY, _NOTIFICATION, _AUDIT = _getters(HistoryRow), _getters(NotificationRow), _getters(AuditRow)


def _fields(rows: list[Any], getters: list[attrgetter[Any]]) -> list[list[Any]]:
    """The rows' fields as one array per column, in field order."""
    return [list(map(get, rows)) for get in getters]


async def write_batch(conn: Conn, batch: BatchWrite, fence: Fence | None = None) -> Counters | None:
    return (await write_batches(conn, [batch], fence)).get(batch.event_id)


def _by_event(rows: list[asyncpg.Record]) -> dict[UUID, Counters]:
    return {r[0]: Counters(r[1], r[2], r[3]) for r in rows}


def _deadline(batches: list[BatchWrite]) -> datetime | None:
    return as_timestamp(min((b.deadline for b in batches if b.deadline is not None), default=None))


def _refused(exc: asyncpg.PostgresError, fence: Fence | None) -> Exception:
    """A fenced or late write as the domain error its commands are answered with; others as they are."""
    refused = refusal(exc, fence) if exc.sqlstate in (FENCED_STATE, LATE_STATE) else None
    return exc if refused is None else refused  # refusal answers both states with an error, never None


def _arguments(batches: list[BatchWrite]) -> tuple[list[BookingRow], list[list[Any]], list[list[Any]]]:
    """(existing bookings to update, the 29 arrays of the rows, the 4 arrays of the counters)."""
    rows = [(b, batch.event_id) for batch in batches for b in batch.bookings.values()]
    old = [b for b, _ in rows if not b.new]
    new = [(b.id, event, b.user_id, b.seats, b.status, b.waiting_number, b.confirmed_at, b.cancelled_at,
            b.created_at, b.updated_at, b.request_id) for b, event in rows if b.new]
    history = [h for batch in batches for h in batch.history]
    notifications = [n for batch in batches for n in batch.notifications]
    user_ids, *rest = _fields(notifications, _NOTIFICATION)
    orgs = [batch.org_id for batch in batches for _ in batch.notifications]
    events = [batch.event_id for batch in batches for _ in batch.notifications]
    audit = [a for batch in batches for a in batch.audit]
    counters: dict[UUID, list[Any]] = {}  # per event: one row of UPDATE ... FROM may change it once
    for b in batches:  # every batch that changed bookings, so that its counters come back
        if b.bookings or b.last_waiting_number is not None or b.confirmed_delta or b.waiting_delta:
            row = counters.setdefault(b.event_id, [b.event_id, None, 0, 0])
            row[1] = max(row[1] or 0, b.last_waiting_number or 0) or None
            row[2] += b.confirmed_delta
            row[3] += b.waiting_delta
    return (old, [*_columns(new, 11), *_fields(history, _HISTORY), user_ids, orgs, events, *rest,
                  *_fields(audit, _AUDIT)],
            _columns([tuple(r) for r in counters.values()], 4))


async def write_batches(conn: Conn, batches: list[BatchWrite],
                        fence: Fence | None = None) -> dict[UUID, Counters]:
    """Apply batches of any events atomically: one statement, preceded (in a transaction) by the
    updates of existing bookings when there are any. Joins the caller's transaction, if it has one.
    Returns the new counters of each event whose bookings changed. Raises `Fenced` if `fence` no longer
    holds, `Expired` if a batch's deadline passed before the statement's last row lock was held."""
    old, rows, counters = _arguments(batches)
    checks = [*(fence.params() if fence is not None else (None, None, None)), _deadline(batches)]
    try:
        if not old:
            return _by_event(await conn.fetch(WRITE, *rows, *counters, *checks))
        # A separate statement first: a cancellation must free the one-active-booking slot before a new
        # booking of the same user is inserted (one statement's parts would not see each other's rows).
        async with conn.transaction():
            await conn.execute(UPDATE_BOOKINGS, [b.id for b in old], [b.status for b in old],
                               [b.waiting_number for b in old], [b.confirmed_at for b in old],
                               [b.cancelled_at for b in old], [b.updated_at for b in old])
            return _by_event(await conn.fetch(WRITE, *rows, *counters, *checks))
    except asyncpg.PostgresError as exc:
        raise _refused(exc, fence) from exc


async def write_after(conn: Conn, batch: BatchWrite, predecessor: Awaitable[bool],
                      fence: Fence | None = None) -> Counters | None:
    """Write a batch of new bookings while the batch it was decided on top of commits; commit it only if that
    one did (else roll back, `PredecessorFailed`). The counters, whose lock the predecessor holds, wait for
    its outcome; only new rows, as an UPDATE could not see rows the predecessor has not committed."""
    old, rows, counters = _arguments([batch])
    if old:
        raise ValueError("write_after takes new bookings only")
    try:
        async with conn.transaction():
            await conn.execute(WRITE_ROWS, *rows, *(fence.params() if fence is not None else (None, None, None)))
            if not await predecessor:
                raise PredecessorFailed(f"the previous batch of event {batch.event_id} was not committed")
            return _by_event(await conn.fetch(WRITE_COUNTERS, *counters, _deadline([batch]))).get(batch.event_id)
    except asyncpg.PostgresError as exc:
        raise _refused(exc, fence) from exc


async def fetch_bookings(conn: Executor, ids: list[UUID]) -> dict[UUID, asyncpg.Record]:
    rows = await conn.fetch("select id, event_id, user_id, seats, status, waiting_number, confirmed_at,"
                            " cancelled_at, created_at, updated_at from bookings where id = any($1::uuid[])",
                            ids)
    return {r["id"]: r for r in rows}


async def fetch_requested(conn: Executor, ids: list[UUID]) -> dict[UUID, asyncpg.Record]:
    """Bookings by id with the request that made them and, if waiting, their waitlist position."""
    rows = await conn.fetch(
        "select b.id, b.user_id, b.seats, b.status, b.waiting_number, b.confirmed_at, b.cancelled_at, b.created_at,"
        " b.updated_at, b.request_id, case when b.status = 'waiting' then (select count(*) from bookings w"
        "  where w.event_id = b.event_id and w.status = 'waiting' and w.waiting_number <= b.waiting_number)"
        " end as position from bookings b where b.id = any($1::uuid[])", ids)
    return {r["id"]: r for r in rows}


async def seat_state(conn: Executor, event_id: UUID) -> tuple[int, list[asyncpg.Record],
                                                                                      list[asyncpg.Record]]:
    """(confirmed seats, waiting bookings by waiting number, active bookings) from the truth."""
    active = await conn.fetch("select id, user_id, seats, status, waiting_number from bookings"
                              " where event_id = $1 and status in ('confirmed', 'waiting')", event_id)
    confirmed = sum(r["seats"] for r in active if r["status"] == "confirmed")
    waiting = sorted((r for r in active if r["status"] == "waiting"), key=lambda r: r["waiting_number"])
    return confirmed, waiting, active
