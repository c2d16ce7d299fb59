"""An event's actor: the one writer of its seats and waitlist.

It takes commands from its mailbox one batch at a time, decides them in arrival order through the
Lua scripts (one Redis round trip per batch), writes the outcome to PostgreSQL in one transaction and
only then replies, so nothing a client was told is lost. Redis is a cache: on activation, after a
failed write and whenever a script finds the keys missing, the actor rebuilds them from PostgreSQL.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import structlog
from prometheus_client import Histogram
from redis.exceptions import RedisError

from ..commands import Book, CancelBooking
from ..config import EngineSettings
from ..fencing import Fence, refusal
from ..errors import AccessUnchecked, Conflict, DomainError, Expired, InvalidInput, NotFound, Unavailable
from ..live import LiveChange, LivePublisher
from ..metrics import BATCH_SIZE, COMMAND_SECONDS, EXPIRED, OUTCOMES, REBUILDS
from ..seats import Seats, WaitEntry
from ..store.bookings import (BatchWrite, BookingRow, Counters, PredecessorFailed, fetch_bookings, fetch_requested,
                              seat_state)
from ..store.event_changes import load_event
from ..store.events import may_see
from ..timeline import status_at
from ..values import STORAGE_ERRORS, json_value
from . import messages
from .commit import GroupCommit
from .mailbox import Envelope, Mailbox

log = structlog.get_logger(__name__)
STORAGE_DOWN = "bookings are temporarily unavailable, please retry"


@dataclass(frozen=True)
class ActorContext:
    pool: asyncpg.Pool
    seats: Seats
    settings: EngineSettings
    committer: GroupCommit
    live: LivePublisher | None = None  # where committed changes are announced to the live streams
    fence: Fence | None = None  # a sharded engine's claim on its shard, checked by every write


def booking_dict(event_id: UUID | str, row: BookingRow, position: int | None = None,
                 stamp: str | None = None) -> dict[str, Any]:
    """The booking as the API returns it; `stamp`: created_at = updated_at, already formatted."""
    return {"id": str(row.id), "event_id": str(event_id), "user_id": str(row.user_id), "seats": row.seats,
            "status": row.status, "waiting_number": row.waiting_number, "position": position,
            "created_at": stamp or json_value(row.created_at), "updated_at": stamp or json_value(row.updated_at)}


_ROW_FIELDS = ("id", "user_id", "seats", "status", "waiting_number", "confirmed_at", "cancelled_at", "created_at",
               "updated_at")


def _answer(env: Envelope, outcome: Any) -> None:
    """Reply to a command once (a result dict or a DomainError) and record its latency."""
    if env.reply.done():
        return
    if isinstance(outcome, BaseException):
        env.reply.set_exception(outcome)
    else:
        env.reply.set_result(outcome)
    _latency(type(env.command).__name__).observe(time.perf_counter() - env.received)


@functools.cache
def _latency(kind: str) -> Histogram:
    return COMMAND_SECONDS.labels(kind)


@dataclass
class _Decision:
    """A batch decided in Redis and not yet committed."""

    write: BatchWrite
    replies: list[tuple[Envelope, Any]] = field(default_factory=list)
    undecided: list[Envelope] = field(default_factory=list)
    # Books with a request id refused as duplicates, and the booking that holds the seat: if that
    # booking was made by the same request (redelivered, retried), the request gets it back instead
    duplicates: dict[int, UUID] = field(default_factory=dict)


def expired(env: Envelope, now: float) -> bool:
    """Past its deadline: the sender has given up (or will have by the time it could commit), so the
    command must have no effect. Answered all the same, for a sender that still listens."""
    if env.deadline is None or env.deadline > now:
        return False
    EXPIRED.labels(type(env.command).__name__).inc()
    log.warning("command_expired", command=type(env.command).__name__, late_seconds=round(now - env.deadline, 3),
                request_id=getattr(env.command, "request_id", None))
    _answer(env, Expired("the request reached the booking engine too late and had no effect, please retry"))
    return True


class Actor:
    def __init__(self, event_id: UUID, context: ActorContext, on_retire: Callable[[Actor], None]) -> None:
        self.event_id = event_id
        self.ctx = context
        self.mailbox = Mailbox()
        self.task: asyncio.Task[None] | None = None
        self._event: asyncpg.Record | None = None
        self._starts_at = ""  # the event's starts_at as JSON, for the payload of every notification
        self._id = str(event_id)
        self._stale = True  # Redis must be rebuilt from PostgreSQL before the next decision
        self._committing: asyncio.Task[bool] | None = None
        self._ahead: asyncio.Task[bool] | None = None  # the commit `_committing` waits for, if any
        self._closing = False
        self._on_retire = on_retire
        self.log = log.bind(event_id=str(event_id))

    @property
    def event(self) -> asyncpg.Record | None:
        """The event's row as of the last command (every change to it goes through this actor)."""
        return self._event

    @event.setter
    def event(self, row: asyncpg.Record | None) -> None:
        self._event = row
        self._starts_at = json_value(row["starts_at"]) if row is not None else ""

    def start(self) -> None:
        # A fresh context: the actor outlives the request that woke it, whose ids it must not log.
        self.task = asyncio.create_task(self._run(), name=f"actor-{self.event_id}", context=contextvars.Context())

    def close(self) -> None:
        self._closing = True
        self.mailbox.wake()

    async def _run(self) -> None:
        settings = self.ctx.settings
        while True:
            if not len(self.mailbox):
                await self._heal()  # nothing to overlap with: finish the commit, repair what it broke
            timeout = 0 if self._closing else settings.idle_seconds
            batch = await self.mailbox.next_batch(settings.batch_max, timeout)
            if not batch:
                await self._settle()
                if len(self.mailbox):
                    continue  # arrived while the last commit finished
                self._on_retire(self)  # synchronous: nothing can be queued between the check and this
                return
            BATCH_SIZE.observe(len(batch))
            try:
                await self._handle(batch)
            except Exception as exc:  # an unexpected fault must not kill the actor or strand callers
                if isinstance(exc, DomainError):  # e.g. Fenced: the shard has a newer owner
                    self.log.warning("actor_batch_refused", error=repr(exc))
                else:
                    self.log.exception("actor_batch_failed")
                self._stale = True
                for env in batch:
                    _answer(env, exc if isinstance(exc, DomainError) else Unavailable(STORAGE_DOWN))

    async def _heal(self) -> None:
        """Settle the commit in flight; if Redis went stale, rebuild it now rather than on the next command,
        so that the invariants hold whenever nothing is in flight."""
        await self._settle()
        if self._stale and self.event is not None:
            try:
                await self._rebuild("stale")
            except STORAGE_ERRORS as exc:
                self.log.warning("rebuild_failed", error=repr(exc))

    async def _settle(self) -> bool:
        """Wait for the commits in flight, if any; False if the last failed (Redis is then stale)."""
        committing, self._committing, self._ahead = self._committing, None, None
        return await committing if committing is not None else True  # it waited for the one ahead

    def _may_commit_behind(self, decision: _Decision) -> bool:
        """Whether `decision` may be written now, behind the commit in flight (`GroupCommit.commit_behind`):
        only new bookings (an UPDATE would not see rows the one ahead has not committed), only one
        behind per event, and only while the group commit has a place for it (which this then takes)."""
        committing, ahead = self._committing, self._ahead
        return (committing is not None and not committing.done() and (ahead is None or ahead.done())
                and not decision.undecided and bool(decision.write.bookings)
                and all(row.new for row in decision.write.bookings.values())
                and self.ctx.committer.reserve_behind())

    async def _handle(self, batch: list[Envelope]) -> None:
        booking_batch = isinstance(batch[0].command, (Book, CancelBooking))
        if not booking_batch:
            await self._settle()  # event-level commands see every earlier booking committed
        if self._stale or self.event is None:
            await self._settle()
            try:
                await self._rebuild("activation" if self.event is None else "stale")
            except STORAGE_ERRORS as exc:
                self.log.warning("rebuild_failed", error=repr(exc))
                for env in batch:
                    _answer(env, Unavailable(STORAGE_DOWN))
                return
        if self.event is None:
            for env in batch:
                _answer(env, NotFound("event not found", field="event_id"))
            self._closing = True  # no such event: retire at once, not after idle_seconds (ids are guessable)
            return
        if booking_batch:
            await self._bookings(batch)
        elif not expired(batch[0], time.time()):
            try:
                _answer(batch[0], await self._event_command(batch[0].command, batch[0].deadline))
            except DomainError as exc:
                _answer(batch[0], exc)

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
        if reason in ("write_failed", "stale"):  # streams may have seen a state that was never committed
            self.publish_live(Counters(ev["total_slots"], ev["total_slots"] - confirmed, len(waiting)), moved=True)
        (self.log.debug if reason == "activation" else self.log.info)(
            "seat_cache_rebuilt", reason=reason, confirmed=confirmed, waiting=len(waiting))

    def _open_status(self, now: datetime) -> str:
        ev = self.event
        assert ev is not None
        return status_at(ev["status"], ev["starts_at"], ev["ends_at"], now)

    # -- bookings ------------------------------------------------------------------------------------
    async def _bookings(self, batch: list[Envelope]) -> None:
        """Decide `batch` in Redis, then commit it in the background while the next batch is decided.

        Replies wait for the commit. A decision made on top of a commit that then failed is thrown
        away (Redis rebuilt from PostgreSQL) and made again, so results equal one-by-one processing.
        A batch of new bookings decided while the previous one still commits may be written at once,
        behind it (at most two commits of an event in flight): it commits only if that one did, else
        its callers hear 503 like the first one's.
        """
        pending = batch
        for _ in range(3):
            decision = await self._decide(pending)
            if decision is None:
                return
            if self._may_commit_behind(decision):  # written now, committed only after the one in flight
                self._ahead = self._committing
                self._committing = asyncio.create_task(self._commit(decision, after=self._ahead))
                return
            if not await self._settle():  # decided on top of a write that failed: decide again
                await self._abandon(decision, reply=False)
                if self._stale:
                    break
                continue
            if decision.undecided:  # a script found the keys gone (Redis restarted or flushed)
                if not await self._commit(decision):
                    return
                await self._rebuild("keys_missing")
                pending = decision.undecided
                continue
            self._committing = asyncio.create_task(self._commit(decision))
            return
        for env in pending:
            _answer(env, Unavailable(STORAGE_DOWN))

    async def _decide(self, batch: list[Envelope]) -> _Decision | None:
        """Run `batch` through the Lua scripts in one round trip; None if nothing is left to commit."""
        ev = self.event
        assert ev is not None
        now = datetime.now(UTC)
        open_ = self._open_status(now) == "upcoming"
        cancel_ids = [e.command.booking_id for e in batch if isinstance(e.command, CancelBooking)]
        existing = await fetch_bookings(self.ctx.pool, cancel_ids) if cancel_ids else {}

        ops: list[tuple[str, UUID, UUID, int]] = []
        queued: list[tuple[Envelope, Any]] = []  # (envelope, new booking id or the existing row)
        clock = time.time()
        for env in batch:
            cmd = env.command
            if env.deadline is not None and expired(env, clock):
                continue
            try:
                if isinstance(cmd, Book) and cmd.public_only and not may_see(ev, None):
                    raise AccessUnchecked("event not found")  # nothing about it until membership is checked
                if not open_:
                    raise Conflict(f"bookings are closed: the event is {self._open_status(now)}")
                if isinstance(cmd, Book):
                    if cmd.seats > ev["max_seats_per_booking"] or cmd.seats > ev["total_slots"]:
                        raise InvalidInput(f"seats must be between 1 and "
                                           f"{min(ev['max_seats_per_booking'], ev['total_slots'])}", field="seats")
                    booking_id = uuid4()
                    ops.append(("B", booking_id, cmd.user_id, cmd.seats))
                    queued.append((env, booking_id))
                else:
                    assert isinstance(cmd, CancelBooking), "a booking batch holds only Book and CancelBooking"
                    row = existing.get(cmd.booking_id)
                    if row is None or row["event_id"] != self.event_id:
                        raise NotFound("booking not found", field="booking_id")
                    if row["status"] == "cancelled":
                        raise Conflict("the booking is already cancelled", booking_id=str(row["id"]))
                    ops.append(("C", row["id"], row["user_id"], row["seats"]))
                    queued.append((env, row))
            except DomainError as exc:
                OUTCOMES["rejected"].inc()
                _answer(env, exc)
        if not queued:
            return None
        try:
            results = await self.ctx.seats.decide(self.event_id, ops)
        except (RedisError, OSError) as exc:
            self.log.warning("redis_failed", error=repr(exc))
            self._stale = True
            for env, _ in queued:
                _answer(env, Unavailable(STORAGE_DOWN))
            return None
        if results and results[0][0] == "REBUILD":  # the keys were gone (Redis restarted or flushed)
            results = []

        decision = _Decision(BatchWrite(self.event_id, ev["org_id"], deadline=min(
            (e.deadline for e, _ in queued if e.deadline is not None), default=None)))
        if not results:
            decision.undecided = [env for env, _ in queued]
        stamp = json_value(now)
        for (env, ref), result in zip(queued, results):
            cmd = env.command
            if isinstance(cmd, Book):
                decision.replies.append((env, self._booked(decision.write, cmd, ref, result, now, stamp)))
                if cmd.request_id is not None and result[0] == "DUPLICATE":
                    decision.duplicates[id(env)] = UUID(result[1])
            else:
                assert isinstance(cmd, CancelBooking), "a booking batch holds only Book and CancelBooking"
                decision.replies.append((env, self._cancelled(decision.write, cmd, ref, result, now)))
        return decision

    async def _commit(self, decision: _Decision, after: asyncio.Task[bool] | None = None) -> bool:
        """Write the decision to PostgreSQL (behind the commit `after`, if given), then reply. On
        failure nobody was told anything. Once committed, the change is announced to the live streams."""
        counters = None
        if decision.write:
            try:
                if after is None:
                    counters = await self.ctx.committer.commit(decision.write)
                else:
                    counters = await self.ctx.committer.commit_behind(decision.write, after)
            except Exception as exc:  # whatever broke the write, nothing was committed or told
                (self.log.warning if isinstance(exc, PredecessorFailed) else self.log.error)(
                    "booking_write_failed", error=repr(exc), commands=len(decision.replies))
                refused = refusal(exc, self.ctx.fence) or Unavailable(STORAGE_DOWN)  # fenced, late, or 503
                await self._abandon(decision, refused=refused)
                for env in decision.undecided:
                    _answer(env, refused)
                OUTCOMES["failed"].inc(len(decision.replies))
                return False
        replayed = await self._replayed(decision) if decision.duplicates else {}
        for env, outcome in decision.replies:
            _answer(env, replayed.get(id(env), outcome))
        if decision.write.bookings:
            self.publish_live(counters, write=decision.write)
        return True

    async def _replayed(self, decision: _Decision) -> dict[int, Any]:
        """For Books refused as duplicates: the booking, if the same request made it (committed by now:
        every write of this event ahead of this one has committed). It is what that request was answered,
        or would have been: a redelivered command, or a retry after a crash, gets the original 201."""
        try:
            rows = await fetch_requested(self.ctx.pool, list(set(decision.duplicates.values())))
        except STORAGE_ERRORS as exc:
            self.log.warning("request_lookup_failed", error=repr(exc))
            return {key: Unavailable(STORAGE_DOWN) for key in decision.duplicates}
        replies: dict[int, Any] = {}
        for env, _ in decision.replies:
            duplicate = decision.duplicates.get(id(env))
            row = rows.get(duplicate) if duplicate is not None else None
            cmd = env.command
            if row is not None and isinstance(cmd, Book) and (row["request_id"], row["user_id"]) == (
                    cmd.request_id, cmd.user_id):
                self.log.info("request_replayed", booking_id=str(row["id"]), request_id=cmd.request_id)
                replies[id(env)] = booking_dict(self._id, BookingRow(*(row[k] for k in _ROW_FIELDS)),
                                                row["position"])
        return replies

    def publish_live(self, counters: Counters | None, **change: Any) -> None:
        """Announce a committed change of this event (fire-and-forget: see `happening_engine.live`)."""
        if self.ctx.live is not None and self.event is not None:
            self.ctx.live.publish(LiveChange(self.event_id, self.event["status"], counters, **change))

    async def _abandon(self, decision: _Decision, reply: bool = True, refused: DomainError | None = None) -> None:
        """Undo a decision that will not be committed: Redis is rebuilt from PostgreSQL before its
        callers hear 503, so a caller who retries finds the state as if it never happened."""
        self._stale = True
        try:
            await self._rebuild("write_failed")
        except STORAGE_ERRORS as exc:
            self.log.warning("repair_failed", error=repr(exc))  # stays stale: retried before the next decision
        if reply:
            for env, _ in decision.replies:
                _answer(env, refused or Unavailable(STORAGE_DOWN))

    def _booked(self, write: BatchWrite, cmd: Book, booking_id: UUID, result: list[Any],
                now: datetime, stamp: str) -> dict[str, Any] | DomainError:
        kind = result[0]
        if kind == "DUPLICATE":
            OUTCOMES["duplicate"].inc()
            return Conflict("you already have an active booking for this event", booking_id=result[1])
        waiting_number = int(result[1]) if kind == "WAITING" else None
        position = int(result[2]) if kind == "WAITING" else None
        status = "waiting" if kind == "WAITING" else "confirmed"
        row = BookingRow(booking_id, cmd.user_id, cmd.seats, status, waiting_number,
                         now if status == "confirmed" else None, None, now, now, new=True,
                         request_id=cmd.request_id)
        write.bookings[booking_id] = row
        if waiting_number is not None:
            write.last_waiting_number = waiting_number
            write.waiting_delta += 1
        else:
            write.confirmed_delta += cmd.seats
        details = {"status": status, "seats": cmd.seats, "waiting_number": waiting_number, "position": position}
        write.history.append((booking_id, "created", details, now))
        ntype = "booking_confirmed" if status == "confirmed" else "booking_waitlisted"
        write.notifications.append((cmd.user_id, booking_id, ntype,
                                    messages.render(ntype, self.event, cmd.seats, position),
                                    self._payload(cmd.seats, waiting_number, position)))
        write.audit.append((write.org_id, cmd.user_id, "booking", booking_id, "created",
                            None, {"status": status, "seats": cmd.seats, "waiting_number": waiting_number}))
        OUTCOMES[status].inc()
        return booking_dict(self._id, row, position, stamp)

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
        if previous == "confirmed":
            write.confirmed_delta -= row["seats"]
        else:
            write.waiting_delta -= 1
        write.history.append((row["id"], "cancelled", {"previous_status": previous,
                                                       "by": json_value(cmd.actor_id)}, now))
        write.notifications.append((row["user_id"], row["id"], "booking_cancelled",
                                    messages.render("booking_cancelled", self.event, row["seats"], None),
                                    self._payload(row["seats"], None, None)))
        write.audit.append((write.org_id, cmd.actor_id, "booking", row["id"], "cancelled",
                            {"status": previous}, {"status": "cancelled"}))
        self._promoted(write, result[1:], now, cause="cancellation", actor_id=cmd.actor_id)
        return booking_dict(self.event_id, booking)

    def _promoted(self, write: BatchWrite, entries: list[str], now: datetime, cause: str,
                  actor_id: UUID | None) -> None:
        """Record the promotion of waitlist `entries`; `actor_id` made the change that freed the seats."""
        for raw in entries:
            entry = WaitEntry.parse(raw)
            write.waiting_delta -= 1
            write.confirmed_delta += entry.seats
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
            write.audit.append((write.org_id, actor_id, "booking", entry.booking_id, "promoted",
                                {"status": "waiting"}, {"status": "confirmed"}))
            OUTCOMES["promoted"].inc()

    def _payload(self, seats: int, waiting_number: int | None, position: int | None) -> dict[str, Any]:
        ev = self.event
        assert ev is not None
        return {"event_name": ev["name"], "starts_at": self._starts_at, "seats": seats,
                "waiting_number": waiting_number, "position": position}

    # -- event-level commands ------------------------------------------------------------------------
    async def _event_command(self, command: Any, deadline: float | None = None) -> dict[str, Any]:
        from .event_commands import run_event_command
        return await run_event_command(self, command, deadline)
