"""An event's actor: the one writer of its seats and waitlist.

It takes commands from its mailbox one batch at a time, decides them in arrival order through the
Lua scripts (one Redis round trip per batch), writes the outcome to PostgreSQL in one transaction and
only then replies, so nothing a client was told is lost. Redis is a cache: on activation, after a
failed write and whenever a script finds the keys missing, the actor rebuilds them from PostgreSQL.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import structlog
from redis.exceptions import RedisError

from ..commands import Book, CancelBooking
from ..config import EngineSettings
from ..errors import Conflict, DomainError, InvalidInput, NotFound, Unavailable
from ..metrics import BATCH_SIZE, BOOKINGS, COMMAND_SECONDS, REBUILDS
from ..seats import Seats, WaitEntry
from ..store.bookings import BatchWrite, BookingRow, fetch_bookings, seat_state, write_batch
from ..store.event_changes import load_event
from ..timeline import status_at
from . import messages
from .mailbox import Envelope, Mailbox

log = structlog.get_logger(__name__)
STORAGE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, RedisError, asyncio.TimeoutError)
STORAGE_DOWN = "bookings are temporarily unavailable, please retry"


@dataclass(frozen=True)
class ActorContext:
    pool: asyncpg.Pool
    seats: Seats
    settings: EngineSettings


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, UUID):
        return str(value)
    return value


def booking_dict(event_id: UUID, row: BookingRow, position: int | None = None) -> dict[str, Any]:
    return {"id": str(row.id), "event_id": str(event_id), "user_id": str(row.user_id), "seats": row.seats,
            "status": row.status, "waiting_number": row.waiting_number, "position": position,
            "created_at": _json(row.created_at), "updated_at": _json(row.updated_at)}


class Actor:
    def __init__(self, event_id: UUID, context: ActorContext, on_retire: Callable[[Actor], None]) -> None:
        self.event_id = event_id
        self.ctx = context
        self.mailbox = Mailbox()
        self.task: asyncio.Task[None] | None = None
        self.event: asyncpg.Record | None = None
        self._stale = True  # Redis must be rebuilt from PostgreSQL before the next decision
        self._closing = False
        self._on_retire = on_retire
        self.log = log.bind(event_id=str(event_id))

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"actor-{self.event_id}")

    def close(self) -> None:
        self._closing = True
        self.mailbox.wake()

    async def _run(self) -> None:
        settings = self.ctx.settings
        while True:
            timeout = 0 if self._closing else settings.idle_seconds
            batch = await self.mailbox.next_batch(settings.batch_max, timeout)
            if not batch:
                self._on_retire(self)  # synchronous: nothing can be queued between the check and this
                return
            BATCH_SIZE.observe(len(batch))
            try:
                await self._handle(batch)
            except Exception as exc:  # an unexpected fault must not kill the actor or strand callers
                self.log.exception("actor_batch_failed")
                self._stale = True
                for env in batch:
                    if not env.reply.done():
                        env.reply.set_exception(Unavailable(STORAGE_DOWN) if not isinstance(exc, DomainError)
                                                else exc)
            now = time.perf_counter()
            for env in batch:
                COMMAND_SECONDS.labels(type(env.command).__name__).observe(now - env.received)

    async def _handle(self, batch: list[Envelope]) -> None:
        if self._stale or self.event is None:
            try:
                await self._rebuild("activation" if self.event is None else "stale")
            except STORAGE_ERRORS as exc:
                self.log.warning("rebuild_failed", error=repr(exc))
                for env in batch:
                    env.reply.set_exception(Unavailable(STORAGE_DOWN))
                return
        if self.event is None:
            for env in batch:
                env.reply.set_exception(NotFound("event not found", field="event_id"))
            return
        command = batch[0].command
        if isinstance(command, (Book, CancelBooking)):
            await self._bookings(batch)
        else:
            try:
                batch[0].reply.set_result(await self._event_command(command))
            except DomainError as exc:
                batch[0].reply.set_exception(exc)

    # -- cache ---------------------------------------------------------------------------------------
    async def _rebuild(self, reason: str) -> None:
        """Make Redis equal PostgreSQL for this event."""
        async with self.ctx.pool.acquire() as conn:
            self.event = await load_event(conn, self.event_id)
            if self.event is None:
                self._stale = False
                return
            confirmed, waiting, active = await seat_state(conn, self.event_id)
        ev = self.event
        seq = max([ev["last_waiting_number"], *(r["waiting_number"] for r in waiting)])
        await self.ctx.seats.rebuild(
            self.event_id, ev["total_slots"], ev["total_slots"] - confirmed, seq,
            [WaitEntry(r["id"], r["user_id"], r["seats"]) for r in waiting],
            {r["user_id"]: r["id"] for r in active})
        self._stale = False
        REBUILDS.labels(reason).inc()
        self.log.info("seat_cache_rebuilt", reason=reason, confirmed=confirmed, waiting=len(waiting))

    def _open_status(self, now: datetime) -> str:
        ev = self.event
        assert ev is not None
        return status_at(ev["status"], ev["starts_at"], ev["ends_at"], now)

    # -- bookings ------------------------------------------------------------------------------------
    async def _bookings(self, batch: list[Envelope]) -> None:
        pending = batch
        for _ in range(3):
            pending = await self._decide(pending)
            if not pending:
                return
            await self._rebuild("keys_missing")  # a script found the keys gone (Redis restarted or flushed)
        for env in pending:
            env.reply.set_exception(Unavailable(STORAGE_DOWN))

    async def _decide(self, batch: list[Envelope]) -> list[Envelope]:
        """Decide and commit `batch`; returns the commands left undecided because the keys vanished."""
        ev = self.event
        assert ev is not None
        now = datetime.now(UTC)
        open_ = self._open_status(now) == "upcoming"
        cancel_ids = [e.command.booking_id for e in batch if isinstance(e.command, CancelBooking)]
        existing = await fetch_bookings(self.ctx.pool, cancel_ids) if cancel_ids else {}

        seats = self.ctx.seats
        pipe = seats.pipeline()
        queued: list[tuple[Envelope, Any]] = []  # (envelope, new booking id or the existing row)
        for env in batch:
            cmd = env.command
            try:
                if not open_:
                    raise Conflict(f"bookings are closed: the event is {self._open_status(now)}")
                if isinstance(cmd, Book):
                    if cmd.seats > ev["max_seats_per_booking"] or cmd.seats > ev["total_slots"]:
                        raise InvalidInput(f"seats must be between 1 and "
                                           f"{min(ev['max_seats_per_booking'], ev['total_slots'])}", field="seats")
                    booking_id = uuid4()
                    await seats.queue_book(pipe, self.event_id, booking_id, cmd.user_id, cmd.seats)
                    queued.append((env, booking_id))
                else:
                    row = existing.get(cmd.booking_id)
                    if row is None or row["event_id"] != self.event_id:
                        raise NotFound("booking not found", field="booking_id")
                    if row["status"] == "cancelled":
                        raise Conflict("the booking is already cancelled", booking_id=str(row["id"]))
                    await seats.queue_cancel(pipe, self.event_id, row["id"], row["user_id"], row["seats"])
                    queued.append((env, row))
            except DomainError as exc:
                BOOKINGS.labels("rejected").inc()
                env.reply.set_exception(exc)
        if not queued:
            return []
        try:
            results = await pipe.execute()
        except (RedisError, OSError) as exc:
            self.log.warning("redis_failed", error=repr(exc))
            self._stale = True
            for env, _ in queued:
                env.reply.set_exception(Unavailable(STORAGE_DOWN))
            return []

        write = BatchWrite(self.event_id, ev["org_id"])
        replies: list[tuple[Envelope, Any]] = []
        locked_users: list[UUID] = []
        undecided: list[Envelope] = []
        for (env, ref), result in zip(queued, results):
            if undecided or result[0] == "REBUILD":
                undecided.append(env)
                continue
            cmd = env.command
            if isinstance(cmd, Book):
                replies.append((env, self._booked(write, cmd, ref, result, now)))
                if result[0] != "DUPLICATE":
                    locked_users.append(cmd.user_id)
            else:
                replies.append((env, self._cancelled(write, cmd, ref, result, now)))

        if write:
            try:
                async with self.ctx.pool.acquire() as conn, conn.transaction():
                    await write_batch(conn, write)
            except Exception as exc:  # whatever broke the write, nothing was committed or told
                # Undo in Redis by rebuilding from the truth before the next decision.
                self.log.error("booking_write_failed", error=repr(exc), commands=len(replies))
                self._stale = True
                try:
                    await seats.release_locks(self.event_id, locked_users)
                except RedisError as redis_exc:
                    self.log.warning("lock_release_failed", error=repr(redis_exc))
                for env, _ in replies:
                    if not env.reply.done():
                        env.reply.set_exception(Unavailable(STORAGE_DOWN))
                for env in undecided:
                    env.reply.set_exception(Unavailable(STORAGE_DOWN))
                BOOKINGS.labels("failed").inc(len(replies))
                return []
        for env, outcome in replies:
            if isinstance(outcome, DomainError):
                env.reply.set_exception(outcome)
            else:
                env.reply.set_result(outcome)
        return undecided

    def _booked(self, write: BatchWrite, cmd: Book, booking_id: UUID, result: list[Any],
                now: datetime) -> dict[str, Any] | DomainError:
        kind = result[0]
        if kind == "DUPLICATE":
            BOOKINGS.labels("duplicate").inc()
            return Conflict("you already have an active booking for this event", booking_id=result[1])
        waiting_number = int(result[1]) if kind == "WAITING" else None
        position = int(result[2]) if kind == "WAITING" else None
        status = "waiting" if kind == "WAITING" else "confirmed"
        row = BookingRow(booking_id, cmd.user_id, cmd.seats, status, waiting_number,
                         now if status == "confirmed" else None, None, now, now, new=True)
        write.bookings[booking_id] = row
        if waiting_number is not None:
            write.last_waiting_number = waiting_number
        details = {"status": status, "seats": cmd.seats, "waiting_number": waiting_number, "position": position}
        write.history.append((booking_id, "created", details, now))
        ntype = "booking_confirmed" if status == "confirmed" else "booking_waitlisted"
        write.notifications.append((cmd.user_id, booking_id, ntype,
                                    messages.render(ntype, self.event, cmd.seats, position),
                                    self._payload(cmd.seats, waiting_number, position)))
        write.audit.append((self.event["org_id"], cmd.user_id, "booking", booking_id, "created",  # type: ignore[index]
                            None, {"status": status, "seats": cmd.seats, "waiting_number": waiting_number}))
        BOOKINGS.labels(status).inc()
        return booking_dict(self.event_id, row, position)

    def _cancelled(self, write: BatchWrite, cmd: CancelBooking, row: asyncpg.Record, result: list[Any],
                   now: datetime) -> dict[str, Any] | DomainError:
        if result[0] == "NOT_ACTIVE":
            return Conflict("the booking is not active", booking_id=str(row["id"]))
        previous = result[0]
        current = write.bookings.get(row["id"])
        booking = BookingRow(row["id"], row["user_id"], row["seats"], "cancelled", None, None, now,
                             row["created_at"], now)
        if current is not None:
            booking.new = current.new
        write.bookings[row["id"]] = booking
        write.history.append((row["id"], "cancelled", {"previous_status": previous,
                                                       "by": _json(cmd.actor_id)}, now))
        write.notifications.append((row["user_id"], row["id"], "booking_cancelled",
                                    messages.render("booking_cancelled", self.event, row["seats"], None),
                                    self._payload(row["seats"], None, None)))
        write.audit.append((self.event["org_id"], cmd.actor_id, "booking", row["id"], "cancelled",  # type: ignore[index]
                            {"status": previous}, {"status": "cancelled"}))
        self._promoted(write, result[1:], now, cause="cancellation")
        return booking_dict(self.event_id, booking)

    def _promoted(self, write: BatchWrite, entries: list[str], now: datetime, cause: str) -> None:
        for raw in entries:
            entry = WaitEntry.parse(raw)
            row = write.bookings.get(entry.booking_id)
            if row is None:  # waiting since an earlier batch: only its new state is written
                row = BookingRow(entry.booking_id, entry.user_id, entry.seats, "confirmed", None, now, None,
                                 now, now)
                write.bookings[entry.booking_id] = row
            else:
                row.status, row.waiting_number, row.confirmed_at, row.updated_at = "confirmed", None, now, now
            write.history.append((entry.booking_id, "promoted", {"seats": entry.seats, "cause": cause}, now))
            write.notifications.append((entry.user_id, entry.booking_id, "waitlist_promoted",
                                        messages.render("waitlist_promoted", self.event, entry.seats, None),
                                        self._payload(entry.seats, None, None)))
            write.audit.append((self.event["org_id"], None, "booking", entry.booking_id, "promoted",  # type: ignore[index]
                                {"status": "waiting"}, {"status": "confirmed"}))
            BOOKINGS.labels("promoted").inc()

    def _payload(self, seats: int, waiting_number: int | None, position: int | None) -> dict[str, Any]:
        ev = self.event
        assert ev is not None
        return {"event_name": ev["name"], "starts_at": _json(ev["starts_at"]), "seats": seats,
                "waiting_number": waiting_number, "position": position}

    # -- event-level commands ------------------------------------------------------------------------
    async def _event_command(self, command: Any) -> dict[str, Any]:
        from .event_commands import run_event_command
        return await run_event_command(self, command)
