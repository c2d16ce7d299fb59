"""Deciding a batch of bookings and cancellations: the checks, one Lua call (`lua/decide.lua`) whose
replies are read into typed outcomes, and the rows (`effects.py`) and replies they make."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from uuid import UUID, uuid4

from redis.exceptions import RedisError

from ..commands import Book, CancelBooking
from ..errors import AccessUnchecked, Conflict, DomainError, InvalidInput, NotFound, Unavailable
from ..metrics import OUTCOMES
from ..store.booking_rows import BatchWrite, BookingRow
from ..store.bookings import fetch_bookings, fetch_requested
from ..store.events import may_see
from ..timeline import status_at
from ..values import STORAGE_ERRORS, json_value
from .mailbox import Envelope
from .replies import STORAGE_DOWN, answer, booking_dict, expired

if TYPE_CHECKING:
    from .actor import Actor


class Op(StrEnum):
    """What `lua/decide.lua` does with one command."""

    BOOK = "B"
    CANCEL = "C"


@dataclass(frozen=True, slots=True)
class Confirmed:
    """Booked: nobody waited and the seats fit."""


@dataclass(frozen=True, slots=True)
class Waiting:
    """Booked on the waitlist: `number` is its waiting number, `position` its place in the line."""

    number: int
    position: int


@dataclass(frozen=True, slots=True)
class Duplicate:
    """Refused: the user already holds `booking_id` (active) for this event."""

    booking_id: str


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Cancelled from `previous` ("confirmed" or "waiting"); `promoted`: the waitlist entries that got seats."""

    previous: str
    promoted: list[str]


@dataclass(frozen=True, slots=True)
class NotActive:
    """Refused: the booking is no longer active."""


@dataclass(frozen=True, slots=True)
class Resized:
    """A capacity change applied; `promoted`: the waitlist entries that got seats."""

    promoted: list[str]


@dataclass(frozen=True, slots=True)
class Refused:
    """A capacity change refused: it would fall below the `confirmed` seats."""

    confirmed: int


@dataclass(frozen=True, slots=True)
class NeedsRebuild:
    """The event's keys are missing or not intact: rebuild them from PostgreSQL, then decide again."""


# the outcomes without fields are shared, so reading a reply allocates only for those with fields
CONFIRMED, NOT_ACTIVE, NEEDS_REBUILD = Confirmed(), NotActive(), NeedsRebuild()
BookOutcome = Confirmed | Waiting | Duplicate
CancelOutcome = Cancelled | NotActive
CapacityOutcome = Resized | Refused | NeedsRebuild


def needs_rebuild(replies: list[list[Any]]) -> bool:
    """Whether a batch's script reply says the keys must be rebuilt (then nothing was decided)."""
    return not replies or replies[0][0] == "REBUILD"


def book_outcome(reply: list[Any]) -> BookOutcome:
    kind = reply[0]
    if kind == "CONFIRMED":
        return CONFIRMED  # the seats left after it (reply[1]) are not needed
    if kind == "WAITING":
        return Waiting(int(reply[1]), int(reply[2]))
    if kind == "DUPLICATE":
        return Duplicate(reply[1])
    raise ValueError(f"unexpected reply to a booking: {reply!r}")


def cancel_outcome(reply: list[Any]) -> CancelOutcome:
    return NOT_ACTIVE if reply[0] == "NOT_ACTIVE" else Cancelled(reply[0], reply[1:])


def capacity_outcome(reply: list[Any]) -> CapacityOutcome:
    kind = reply[0]
    if kind == "REBUILD":
        return NEEDS_REBUILD
    if kind == "REFUSED":
        return Refused(int(reply[1]))
    return Resized(reply[1:])


@dataclass
class Decision:
    """A batch decided in Redis and not yet committed."""

    write: BatchWrite
    replies: list[tuple[Envelope, Any]] = field(default_factory=list)
    undecided: list[Envelope] = field(default_factory=list)
    # Books with a request id refused as duplicates, and the booking that holds the seat: if that
    # booking was made by the same request (redelivered, retried), the request gets it back instead
    duplicates: dict[int, UUID] = field(default_factory=dict)


async def decide(actor: Actor, batch: list[Envelope]) -> Decision | None:
    """Run `batch` through the Lua scripts in one round trip; None if nothing is left to commit."""
    ev = actor.event
    assert ev is not None
    now = datetime.now(UTC)
    status = status_at(ev["status"], ev["starts_at"], ev["ends_at"], now)
    cancel_ids = [e.command.booking_id for e in batch if isinstance(e.command, CancelBooking)]
    existing = await fetch_bookings(actor.ctx.pool, cancel_ids) if cancel_ids else {}

    ops: list[tuple[str, UUID, UUID, int]] = []
    envs: list[Envelope] = []  # the commands sent to the script, in order
    refs: list[Any] = []  # for each: the new booking's id (Book) or the existing row (CancelBooking)
    clock = time.time()
    for env in batch:
        cmd = env.command
        if env.deadline is not None and expired(env, clock):
            continue
        try:
            if isinstance(cmd, Book) and cmd.public_only and not may_see(ev, None):
                raise AccessUnchecked("event not found")  # nothing about it until membership is checked
            if status != "upcoming":
                raise Conflict(f"bookings are closed: the event is {status}")
            if isinstance(cmd, Book):
                if cmd.seats > ev["max_seats_per_booking"] or cmd.seats > ev["total_slots"]:
                    raise InvalidInput(f"seats must be between 1 and "
                                       f"{min(ev['max_seats_per_booking'], ev['total_slots'])}", field="seats")
                booking_id = uuid4()
                ops.append((Op.BOOK, booking_id, cmd.user_id, cmd.seats))
                refs.append(booking_id)
            else:
                assert isinstance(cmd, CancelBooking), "a booking batch holds only Book and CancelBooking"
                row = existing.get(cmd.booking_id)
                if row is None or row["event_id"] != actor.event_id:
                    raise NotFound("booking not found", field="booking_id")
                if row["status"] == "cancelled":
                    raise Conflict("the booking is already cancelled", booking_id=str(row["id"]))
                ops.append((Op.CANCEL, row["id"], row["user_id"], row["seats"]))
                refs.append(row)
            envs.append(env)
        except DomainError as exc:
            OUTCOMES["rejected"].inc()
            answer(env, exc)
    if not envs:
        return None
    try:
        results = await actor.ctx.seats.decide(actor.event_id, ops)
    except (RedisError, OSError) as exc:
        actor.log.warning("redis_failed", error=repr(exc))
        actor.stale = True
        for env in envs:
            answer(env, Unavailable(STORAGE_DOWN))
        return None

    decision = Decision(BatchWrite(actor.event_id, ev["org_id"], deadline=min(
        (e.deadline for e in envs if e.deadline is not None), default=None)))
    if needs_rebuild(results):  # the keys were gone (Redis restarted or flushed)
        decision.undecided = envs
        return decision
    effects, event_id, stamp = actor.effects, actor.event_id_text, json_value(now)
    for env, ref, result in zip(envs, refs, results):
        cmd = env.command
        reply: dict[str, Any] | DomainError
        if isinstance(cmd, Book):
            outcome = book_outcome(result)
            if isinstance(outcome, Duplicate):
                OUTCOMES["duplicate"].inc()
                reply = Conflict("you already have an active booking for this event", booking_id=outcome.booking_id)
                if cmd.request_id is not None:
                    decision.duplicates[id(env)] = UUID(outcome.booking_id)
            else:
                booked = effects.booked(decision.write, cmd, ref, outcome, now)
                OUTCOMES[booked.status].inc()
                reply = booking_dict(event_id, booked, outcome.position if isinstance(outcome, Waiting) else None,
                                     stamp)
        else:
            assert isinstance(cmd, CancelBooking), "a booking batch holds only Book and CancelBooking"
            cancelled = cancel_outcome(result)
            if isinstance(cancelled, NotActive):
                reply = Conflict("the booking is not active", booking_id=str(ref["id"]))
            else:
                reply = booking_dict(event_id, effects.cancelled(decision.write, ref, cancelled, cmd.actor_id, now))
        decision.replies.append((env, reply))
    return decision


_ROW_FIELDS = ("id", "user_id", "seats", "status", "waiting_number", "confirmed_at", "cancelled_at", "created_at",
               "updated_at")


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
            replies[id(env)] = booking_dict(actor.event_id_text, BookingRow(*(row[k] for k in _ROW_FIELDS)),
                                            row["position"])
    return replies
