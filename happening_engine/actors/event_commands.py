"""Event-level commands, run by the event's actor alone (never inside a booking batch)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from .. import fencing
from ..commands import AdvanceLifecycle, CancelEvent, PublishEvent, UpdateEvent
from ..errors import Conflict, InvalidInput, Unavailable
from ..live import LiveBooking
from ..store import Conn
from ..store.audit import record
from ..store.booking_rows import BatchWrite, Counters
from ..store.bookings import write_batch
from ..store.event_changes import active_bookers, cancel_bookings, update_event
from ..timeline import status_at
from ..values import STORAGE_ERRORS, json_value
from .outcomes import NeedsRebuild, Refused, Resized, capacity_outcome

if TYPE_CHECKING:
    from .actor import Actor

EDITABLE = {"name", "description", "category", "starts_at", "ends_at", "total_slots", "max_seats_per_booking",
            "visibility"}
FINAL = ("cancelled", "completed")
# bookings are closed once an event starts: seats and times stay as they were when it started
FIXED_ONCE_STARTED = {"total_slots", "max_seats_per_booking", "starts_at", "ends_at"}


def event_dict(row: asyncpg.Record) -> dict[str, Any]:
    return {k: json_value(v) for k, v in row.items()}


def _counters(row: asyncpg.Record) -> Counters:
    return Counters(row["total_slots"], row["total_slots"] - row["confirmed_seats"], row["waiting_count"])


async def run_event_command(actor: Actor, cmd: Any, deadline: float | None = None) -> dict[str, Any]:
    """Run `cmd`; each change is one transaction that ends with the fence and `deadline` check
    (`fencing.check`), so a fenced or late command commits nothing."""
    now = datetime.now(UTC)
    try:
        if isinstance(cmd, PublishEvent):
            return await _publish(actor, cmd, now, deadline)
        if isinstance(cmd, UpdateEvent):
            return await _update(actor, cmd, now, deadline)
        if isinstance(cmd, CancelEvent):
            return await _cancel(actor, cmd, now, deadline)
        if isinstance(cmd, AdvanceLifecycle):
            return await _advance(actor, now, deadline)
    except STORAGE_ERRORS as exc:
        actor.log.error("event_command_failed", command=type(cmd).__name__, error=repr(exc))
        actor.stale = True
        raise Unavailable("the event could not be changed right now, please retry") from exc
    raise TypeError(f"not an event command: {cmd!r}")


async def _publish(actor: Actor, cmd: PublishEvent, now: datetime, deadline: float | None) -> dict[str, Any]:
    ev = actor.event
    assert ev is not None
    if ev["status"] in ("upcoming", "ongoing"):
        return event_dict(ev)  # published already: a redelivered or retried publish gets the first answer
    if ev["status"] != "draft":
        raise Conflict(f"only a draft can be published; the event is {ev['status']}")
    if ev["ends_at"] <= now:
        raise Conflict("the event has already ended")
    status = status_at("upcoming", ev["starts_at"], ev["ends_at"], now)
    async with actor.ctx.pool.acquire() as conn, conn.transaction():
        row = await update_event(conn, actor.event_id, {"status": status, "published_at": now}, now)
        await record(conn, org_id=ev["org_id"], actor_id=cmd.actor_id, entity="event", entity_id=actor.event_id,
                     action="published", before={"status": "draft"}, after={"status": status})
        await fencing.check(conn, actor.ctx.fence, deadline)
    actor.event = row
    actor.publish_live(_counters(row))
    return event_dict(row)


def _parse_changes(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - EDITABLE
    if unknown:
        raise InvalidInput(f"cannot change {sorted(unknown)[0]}", field=sorted(unknown)[0])
    parsed = dict(changes)
    for name in ("starts_at", "ends_at"):
        if isinstance(parsed.get(name), str):
            parsed[name] = datetime.fromisoformat(parsed[name].replace("Z", "+00:00"))
    for name in ("total_slots", "max_seats_per_booking"):
        if name in parsed and (not isinstance(parsed[name], int) or parsed[name] < 1):
            raise InvalidInput(f"{name} must be a positive integer", field=name)
    return parsed


def _changes(ev: asyncpg.Record, cmd: UpdateEvent) -> dict[str, Any]:
    """The fields `cmd` changes (those already as asked are left out); 409 for a cancelled or completed event."""
    if ev["status"] in FINAL:
        raise Conflict(f"a {ev['status']} event cannot be changed")
    return {k: v for k, v in _parse_changes(cmd.changes).items() if ev[k] != v}


def _check_changes(ev: asyncpg.Record, changes: dict[str, Any]) -> None:
    """Refuse what the event's state forbids: seats and times once it started, an end before its start."""
    if ev["status"] == "ongoing" and set(changes) & FIXED_ONCE_STARTED:
        raise Conflict(f"the event has started: {', '.join(sorted(set(changes) & FIXED_ONCE_STARTED))}"
                       " can no longer change")
    starts, ends = changes.get("starts_at", ev["starts_at"]), changes.get("ends_at", ev["ends_at"])
    if ends <= starts:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")


async def _resize(actor: Actor, write: BatchWrite, total_slots: int, now: datetime, actor_id: Any) -> None:
    """Set the event's seats in Redis (rebuilding its keys once if they are missing); the bookings it
    promotes go into `write`. 409 if it would fall below the confirmed seats."""
    outcome = capacity_outcome(await actor.ctx.seats.capacity(actor.event_id, total_slots))
    if isinstance(outcome, NeedsRebuild):
        await actor.rebuild("keys_missing")
        outcome = capacity_outcome(await actor.ctx.seats.capacity(actor.event_id, total_slots))
    if isinstance(outcome, Refused):
        raise Conflict(f"capacity cannot go below the {outcome.confirmed} confirmed seats", field="total_slots",
                       confirmed_seats=outcome.confirmed)
    if isinstance(outcome, Resized):  # keys missing twice: nothing was promoted
        actor.effects.promoted(write, outcome.promoted, now, cause="capacity", actor_id=actor_id)


async def _notify_bookers(actor: Actor, conn: Conn, changed: list[str]) -> None:
    """One `event_updated` notification to each active booking's booker."""
    ev = actor.event
    assert ev is not None
    write = BatchWrite(actor.event_id, ev["org_id"])
    for b in await active_bookers(conn, actor.event_id):
        actor.effects.notify(write, b["user_id"], b["id"], "event_updated", b["seats"], changed=changed)
    await write_batch(conn, write)


async def _write_update(actor: Actor, ev: asyncpg.Record, cmd: UpdateEvent, changes: dict[str, Any],
                        write: BatchWrite, now: datetime, deadline: float | None) -> tuple[asyncpg.Record, Counters]:
    """The update, its promotions, notifications and audit row in one transaction; the new row and counters."""
    async with actor.ctx.pool.acquire() as conn, conn.transaction():
        row = await update_event(conn, actor.event_id, changes, now)
        actor.event = row
        counters = await write_batch(conn, write) or _counters(row)
        if ev["status"] != "draft":
            await _notify_bookers(actor, conn, sorted(changes))
        await record(conn, org_id=ev["org_id"], actor_id=cmd.actor_id, entity="event",
                     entity_id=actor.event_id, action="updated",
                     before={k: json_value(ev[k]) for k in changes},
                     after={k: json_value(v) for k, v in changes.items()})
        await fencing.check(conn, actor.ctx.fence, deadline)
    return row, counters


async def _update(actor: Actor, cmd: UpdateEvent, now: datetime, deadline: float | None) -> dict[str, Any]:
    ev = actor.event
    assert ev is not None
    changes = _changes(ev, cmd)
    if not changes:
        return event_dict(ev)
    _check_changes(ev, changes)
    write = BatchWrite(actor.event_id, ev["org_id"])
    if "total_slots" in changes:
        await _resize(actor, write, changes["total_slots"], now, cmd.actor_id)
    try:
        row, counters = await _write_update(actor, ev, cmd, changes, write, now, deadline)
    except BaseException:
        actor.event = ev
        actor.stale = True  # the capacity script may have run: rebuild before the next decision
        raise
    actor.publish_live(counters, write=write)
    return event_dict(row)


async def _refresh_cache(actor: Actor, reason: str) -> None:
    """After bookings were cancelled in PostgreSQL alone: make Redis agree before answering. The change
    is committed whatever happens here; if Redis cannot be written now, the next command rebuilds."""
    try:
        await actor.rebuild(reason)
    except STORAGE_ERRORS as exc:
        actor.log.warning("rebuild_failed", reason=reason, error=repr(exc))
        actor.stale = True


async def _cancel_bookings(actor: Actor, conn: Conn, statuses: tuple[str, ...], reason: str,
                           actor_id: Any, now: datetime) -> list[LiveBooking]:
    """Cancel the event's bookings in `statuses` for `reason`, each with its history row, one
    notification to its booker and its audit row; returns them for the live streams."""
    ev = actor.event
    assert ev is not None
    write = BatchWrite(actor.event_id, ev["org_id"])
    cancelled = await cancel_bookings(conn, actor.event_id, statuses, now)
    for b in cancelled:
        actor.effects.dropped(write, b, reason, actor_id, now)
    await write_batch(conn, write)
    return [LiveBooking(b["id"], b["user_id"], "cancelled", b["seats"], now.timestamp()) for b in cancelled]


async def _cancel(actor: Actor, cmd: CancelEvent, now: datetime, deadline: float | None) -> dict[str, Any]:
    ev = actor.event
    assert ev is not None
    if ev["status"] == "cancelled":
        return event_dict(ev)  # a redelivered or retried cancellation gets the first answer
    if ev["status"] in FINAL:
        raise Conflict(f"the event is already {ev['status']}")
    async with actor.ctx.pool.acquire() as conn, conn.transaction():
        row = await update_event(conn, actor.event_id, {"status": "cancelled", "cancelled_at": now,
                                                        "confirmed_seats": 0, "waiting_count": 0}, now)
        cancelled = await _cancel_bookings(actor, conn, ("confirmed", "waiting"), "event_cancelled", cmd.actor_id,
                                           now)
        await record(conn, org_id=ev["org_id"], actor_id=cmd.actor_id, entity="event", entity_id=actor.event_id,
                     action="cancelled", before={"status": ev["status"]}, after={"status": "cancelled"})
        await fencing.check(conn, actor.ctx.fence, deadline)
    actor.event = row
    actor.publish_live(_counters(row), bookings=cancelled, moved=bool(cancelled))
    await _refresh_cache(actor, "event_cancelled")
    return event_dict(row)


async def _advance(actor: Actor, now: datetime, deadline: float | None) -> dict[str, Any]:
    ev = actor.event
    assert ev is not None
    status = status_at(ev["status"], ev["starts_at"], ev["ends_at"], now)
    if status == ev["status"]:
        return event_dict(ev)
    closing = ev["status"] == "upcoming"  # bookings close: nobody left waiting can get a place any more
    async with actor.ctx.pool.acquire() as conn, conn.transaction():
        changes: dict[str, Any] = {"status": status, **({"waiting_count": 0} if closing else {})}
        row = await update_event(conn, actor.event_id, changes, now)
        cancelled = await _cancel_bookings(actor, conn, ("waiting",), "waitlist_closed", None, now) if closing else []
        await record(conn, org_id=ev["org_id"], actor_id=None, entity="event", entity_id=actor.event_id,
                     action="status_changed", before={"status": ev["status"]}, after={"status": status})
        await fencing.check(conn, actor.ctx.fence, deadline)
    actor.event = row
    actor.publish_live(_counters(row), bookings=cancelled, moved=bool(cancelled))
    if closing:
        await _refresh_cache(actor, "waitlist_closed")
    return event_dict(row)
