"""Deciding a batch of bookings and cancellations: the checks, one Lua call (`lua/decide.lua`) whose
replies are read into typed outcomes (`outcomes.py`), and the rows (`effects.py`) and replies they make."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

import asyncpg
from redis.exceptions import RedisError

from ..commands import Book, CancelBooking, Command
from ..errors import AccessUnchecked, Conflict, DomainError, InvalidInput, NotFound, Unavailable
from ..metrics import OUTCOMES
from ..store.booking_rows import BatchWrite, BookingRow
from ..store.bookings import fetch_bookings, fetch_requested
from ..store.events import may_see
from ..timeline import status_at
from ..values import STORAGE_ERRORS, json_value
from .mailbox import Envelope
from .outcomes import Duplicate, NotActive, Op, Waiting, book_outcome, cancel_outcome, needs_rebuild
from .replies import STORAGE_DOWN, answer, booking_dict, expired

if TYPE_CHECKING:
    from .actor import Actor


@dataclass
class Decision:
    """A batch decided in Redis and not yet committed."""

    write: BatchWrite
    replies: list[tuple[Envelope, Any]] = field(default_factory=list)
    undecided: list[Envelope] = field(default_factory=list)
    # Books with a request id refused as duplicates, and the booking that holds the seat: if that
    # booking was made by the same request (redelivered, retried), the request gets it back instead
    duplicates: dict[int, UUID] = field(default_factory=dict)


ScriptOp = tuple[str, UUID, UUID, int]  # one command as the script reads it: op, booking id, user id, seats


def _book_op(ev: asyncpg.Record, cmd: Book) -> tuple[ScriptOp, UUID]:
    if cmd.seats > ev["max_seats_per_booking"] or cmd.seats > ev["total_slots"]:
        raise InvalidInput(f"seats must be between 1 and "
                           f"{min(ev['max_seats_per_booking'], ev['total_slots'])}", field="seats")
    booking_id = uuid4()
    return (Op.BOOK, booking_id, cmd.user_id, cmd.seats), booking_id


def _cancel_op(event_id: UUID, cmd: CancelBooking, existing: dict[UUID, Any]) -> tuple[ScriptOp, Any]:
    row = existing.get(cmd.booking_id)
    if row is None or row["event_id"] != event_id:
        raise NotFound("booking not found", field="booking_id")
    return (Op.CANCEL, row["id"], row["user_id"], row["seats"]), row


def _already_cancelled(actor: Actor, cmd: Command, existing: dict[UUID, Any]) -> dict[str, Any] | None:
    """A cancellation that finds its booking cancelled is answered with it as it is: the answer a
    redelivered or retried cancellation got the first time (never a 409), and a double click's."""
    row = existing.get(cmd.booking_id) if isinstance(cmd, CancelBooking) else None
    if row is None or row["event_id"] != actor.event_id or row["status"] != "cancelled":
        return None
    return _stored_booking(actor, row)


def _op(actor: Actor, status: str, cmd: Command, existing: dict[UUID, Any]) -> tuple[ScriptOp, Any]:
    """`cmd` as the script reads it, and what its reply needs: the new booking's id (Book) or the
    existing row (CancelBooking); a DomainError when the command is refused before Redis."""
    ev = actor.event
    assert ev is not None
    if isinstance(cmd, Book) and cmd.public_only and not may_see(ev, None):
        raise AccessUnchecked("event not found")  # nothing about it until membership is checked
    if status != "upcoming":
        raise Conflict(f"bookings are closed: the event is {status}")
    if isinstance(cmd, Book):
        return _book_op(ev, cmd)
    assert isinstance(cmd, CancelBooking), "a booking batch holds only Book and CancelBooking"
    return _cancel_op(actor.event_id, cmd, existing)


def _checked(actor: Actor, status: str, batch: list[Envelope],
             existing: dict[UUID, Any]) -> tuple[list[Envelope], list[ScriptOp], list[Any]]:
    """The commands of `batch` that passed their checks (the others answered), their ops and references."""
    envs: list[Envelope] = []  # the commands sent to the script, in order
    ops: list[ScriptOp] = []
    refs: list[Any] = []
    clock = time.time()
    for env in batch:
        if env.deadline is not None and expired(env, clock):
            continue
        if (done := _already_cancelled(actor, env.command, existing)) is not None:
            answer(env, done)
            continue
        try:
            op, ref = _op(actor, status, env.command, existing)
        except DomainError as exc:
            OUTCOMES["rejected"].inc()
            answer(env, exc)
            continue
        ops.append(op)
        refs.append(ref)
        envs.append(env)
    return envs, ops, refs


async def _run_script(actor: Actor, envs: list[Envelope], ops: list[ScriptOp]) -> list[list[Any]] | None:
    """The script's replies; None when Redis failed (then every command is answered 503)."""
    try:
        return await actor.ctx.seats.decide(actor.event_id, ops)
    except (RedisError, OSError) as exc:
        actor.log.warning("redis_failed", error=repr(exc))
        actor.stale = True
        for env in envs:
            answer(env, Unavailable(STORAGE_DOWN))
        return None


def _book_reply(actor: Actor, decision: Decision, env: Envelope, booking_id: UUID, result: list[Any],
                now: datetime, stamp: str) -> dict[str, Any] | DomainError:
    """A Book's reply: its booking, or 409 if the user holds one (kept for the request id's replay)."""
    cmd = env.command
    assert isinstance(cmd, Book)
    outcome = book_outcome(result)
    if isinstance(outcome, Duplicate):
        OUTCOMES["duplicate"].inc()
        if cmd.request_id is not None:
            decision.duplicates[id(env)] = UUID(outcome.booking_id)
        return Conflict("you already have an active booking for this event", booking_id=outcome.booking_id)
    booked = actor.effects.booked(decision.write, cmd, booking_id, outcome, now)
    OUTCOMES[booked.status].inc()
    position = outcome.position if isinstance(outcome, Waiting) else None
    return booking_dict(actor.event_id_text, booked, position, stamp)


def _cancel_reply(actor: Actor, decision: Decision, env: Envelope, row: Any, result: list[Any],
                  now: datetime) -> dict[str, Any] | DomainError:
    """A CancelBooking's reply: the cancelled booking, or 409 if it was no longer active."""
    cmd = env.command
    assert isinstance(cmd, CancelBooking), "a booking batch holds only Book and CancelBooking"
    cancelled = cancel_outcome(result)
    if isinstance(cancelled, NotActive):
        return Conflict("the booking is not active", booking_id=str(row["id"]))
    return booking_dict(actor.event_id_text, actor.effects.cancelled(decision.write, row, cancelled, cmd.actor_id, now))


async def decide(actor: Actor, batch: list[Envelope]) -> Decision | None:
    """Run `batch` through the Lua scripts in one round trip; None if nothing is left to commit."""
    ev = actor.event
    assert ev is not None
    now = datetime.now(UTC)
    status = status_at(ev["status"], ev["starts_at"], ev["ends_at"], now)
    cancel_ids = [e.command.booking_id for e in batch if isinstance(e.command, CancelBooking)]
    existing = await fetch_bookings(actor.ctx.pool, cancel_ids) if cancel_ids else {}
    envs, ops, refs = _checked(actor, status, batch, existing)
    if not envs:
        return None
    results = await _run_script(actor, envs, ops)
    if results is None:
        return None
    decision = Decision(BatchWrite(actor.event_id, ev["org_id"], deadline=min(
        (e.deadline for e in envs if e.deadline is not None), default=None)))
    if needs_rebuild(results):  # the keys were gone (Redis restarted or flushed)
        decision.undecided = envs
        return decision
    stamp = json_value(now)
    for env, ref, result in zip(envs, refs, results):
        reply = (_book_reply(actor, decision, env, ref, result, now, stamp) if isinstance(env.command, Book)
                 else _cancel_reply(actor, decision, env, ref, result, now))
        decision.replies.append((env, reply))
    return decision


_ROW_FIELDS = ("id", "user_id", "seats", "status", "waiting_number", "confirmed_at", "cancelled_at", "created_at",
               "updated_at")


def _stored_booking(actor: Actor, row: Any, position: int | None = None) -> dict[str, Any]:
    """A booking read back from PostgreSQL, as the engine answers it."""
    return booking_dict(actor.event_id_text, BookingRow(*(row[k] for k in _ROW_FIELDS)), position)


async def replayed(actor: Actor, decision: Decision) -> dict[int, Any]:
    """For Books refused as duplicates: the booking, if the same request made it (committed by now:
    every write of this event ahead of this one has committed). It is what that request was answered,
    or would have been: a redelivered command, or a retry after a crash, gets the original 201."""
    try:
        rows = await fetch_requested(actor.ctx.pool, list(set(decision.duplicates.values())))
    except STORAGE_ERRORS as exc:
        actor.log.warning("request_lookup_failed", error=repr(exc))
        return {key: Unavailable(STORAGE_DOWN) for key in decision.duplicates}
    replies: dict[int, Any] = {}
    for env, _ in decision.replies:
        duplicate = decision.duplicates.get(id(env))
        row = rows.get(duplicate) if duplicate is not None else None
        cmd = env.command
        if row is not None and isinstance(cmd, Book) and (row["request_id"], row["user_id"]) == (
                cmd.request_id, cmd.user_id):
            actor.log.info("request_replayed", booking_id=str(row["id"]), request_id=cmd.request_id)
            replies[id(env)] = _stored_booking(actor, row, row["position"])
    return replies
