"""An event's actor: the one writer of its seats and waitlist. It takes commands from its mailbox one
batch at a time, decides them in arrival order in one Lua call (`decide.py`), writes the outcome to
PostgreSQL in one transaction (`commit.py`) and only then replies, so nothing a client was told is
lost. Redis is a cache, rebuilt from PostgreSQL on activation, when stale or missing (`rebuild.py`)."""
from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import structlog

from ..commands import Book, CancelBooking
from ..config import EngineSettings
from ..errors import DomainError, NotFound, Unavailable
from ..fencing import Fence, refusal
from ..live import LiveChange, LivePublisher
from ..metrics import BATCH_SIZE, OUTCOMES, waitlist_length
from ..seats import Seats
from ..store.booking_rows import Counters
from ..store.bookings import PredecessorFailed
from ..values import STORAGE_ERRORS
from .commit import GroupCommit
from .decide import Decision, decide, replayed
from .effects import Effects
from .mailbox import Envelope, Mailbox
from .rebuild import rebuild_seats
from .replies import STORAGE_DOWN, answer, expired

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ActorContext:
    """What every actor of an engine shares."""

    pool: asyncpg.Pool
    seats: Seats
    settings: EngineSettings
    committer: GroupCommit
    live: LivePublisher | None = None  # where committed changes are announced to the live streams
    fence: Fence | None = None  # a sharded engine's claim on its shard, checked by every write


class Actor:
    """One event's actor. Event commands (`event_commands.py`) use its public members: `event`,
    `effects`, `stale`, `rebuild()` and `publish_live()`."""

    def __init__(self, event_id: UUID, context: ActorContext, on_retire: Callable[[Actor], None]) -> None:
        self.event_id = event_id
        self.ctx = context
        self.mailbox = Mailbox()
        self.task: asyncio.Task[None] | None = None
        self.event_id_text = str(event_id)  # formatted once, for every reply
        self.stale = True  # Redis must be rebuilt from PostgreSQL before the next decision
        self._event: asyncpg.Record | None = None
        self._effects: Effects | None = None
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
        self._effects = Effects(row) if row is not None else None

    @property
    def effects(self) -> Effects:
        """The builder of the rows a booking change writes, for the event as it is now."""
        assert self._effects is not None, "no event loaded"
        return self._effects

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
                await self._await_commits()
                if len(self.mailbox):
                    continue  # arrived while the last commit finished
                self._on_retire(self)  # synchronous: nothing can be queued between the check and this
                waitlist_length(self.event_id_text, 0)
                return
            BATCH_SIZE.observe(len(batch))
            try:
                await self._handle(batch)
            except Exception as exc:  # an unexpected fault must not kill the actor or strand callers
                if isinstance(exc, DomainError):  # e.g. Fenced: the shard has a newer owner
                    self.log.warning("actor_batch_refused", error=repr(exc))
                else:
                    self.log.exception("actor_batch_failed")
                self.stale = True
                for env in batch:
                    answer(env, exc if isinstance(exc, DomainError) else Unavailable(STORAGE_DOWN))

    async def _heal(self) -> None:
        """Wait for the commit in flight; if Redis went stale, rebuild it now rather than on the next command,
        so that the invariants hold whenever nothing is in flight."""
        await self._await_commits()
        if self.stale and self.event is not None:
            try:
                await self.rebuild("stale")
            except STORAGE_ERRORS as exc:
                self.log.warning("rebuild_failed", error=repr(exc))

    async def _await_commits(self) -> bool:
        """Wait for the commits in flight, if any; False if the last failed (Redis is then stale)."""
        committing, self._committing, self._ahead = self._committing, None, None
        return await committing if committing is not None else True  # it waited for the one ahead

    def _may_commit_behind(self, decision: Decision) -> bool:
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
            await self._await_commits()  # event-level commands see every earlier booking committed
        if self.stale or self.event is None:
            await self._await_commits()
            try:
                await self.rebuild("activation" if self.event is None else "stale")
            except STORAGE_ERRORS as exc:
                self.log.warning("rebuild_failed", error=repr(exc))
                for env in batch:
                    answer(env, Unavailable(STORAGE_DOWN))
                return
        if self.event is None:
            for env in batch:
                answer(env, NotFound("event not found", field="event_id"))
            self._closing = True  # no such event: retire at once, not after idle_seconds (ids are guessable)
            return
        if booking_batch:
            await self._bookings(batch)
        elif not expired(batch[0], time.time()):
            try:
                answer(batch[0], await self._event_command(batch[0].command, batch[0].deadline))
            except DomainError as exc:
                answer(batch[0], exc)

    async def rebuild(self, reason: str) -> None:
        """Make Redis equal PostgreSQL for this event (`rebuild.py`); raises what PostgreSQL or Redis raised."""
        await rebuild_seats(self, reason)

    async def _bookings(self, batch: list[Envelope]) -> None:
        """Decide `batch` in Redis, then commit it in the background while the next batch is decided; replies
        wait for the commit. A decision on top of a commit that failed is made again after a rebuild, so
        results equal one-by-one processing; new bookings may be written behind the commit in flight."""
        pending = batch
        for _ in range(3):
            decision = await decide(self, pending)
            if decision is None:
                return
            if self._may_commit_behind(decision):  # written now, committed only after the one in flight
                self._ahead = self._committing
                self._committing = asyncio.create_task(self._commit(decision, after=self._ahead))
                return
            if not await self._await_commits():  # decided on top of a write that failed: decide again
                await self._abandon(decision, reply=False)
                if self.stale:
                    break
                continue
            if decision.undecided:  # a script found the keys gone (Redis restarted or flushed)
                if not await self._commit(decision):
                    return
                await self.rebuild("keys_missing")
                pending = decision.undecided
                continue
            self._committing = asyncio.create_task(self._commit(decision))
            return
        for env in pending:
            answer(env, Unavailable(STORAGE_DOWN))

    async def _commit(self, decision: Decision, after: asyncio.Task[bool] | None = None) -> bool:
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
                    answer(env, refused)
                OUTCOMES["failed"].inc(len(decision.replies))
                return False
        replays = await replayed(self, decision) if decision.duplicates else {}
        for env, outcome in decision.replies:
            answer(env, replays.get(id(env), outcome))
        if decision.write.bookings:
            self.publish_live(counters, write=decision.write)
        return True

    def publish_live(self, counters: Counters | None, **change: Any) -> None:
        """Announce a committed change of this event (fire-and-forget: see `happening_engine.live`)."""
        if counters is not None:
            waitlist_length(self.event_id_text, counters.waitlist_length)
        if self.ctx.live is not None and self.event is not None:
            self.ctx.live.publish(LiveChange(self.event_id, self.event["status"], counters, **change))

    async def _abandon(self, decision: Decision, reply: bool = True, refused: DomainError | None = None) -> None:
        """Undo a decision that will not be committed: Redis is rebuilt from PostgreSQL before its
        callers hear 503, so a caller who retries finds the state as if it never happened."""
        self.stale = True
        try:
            await self.rebuild("write_failed")
        except STORAGE_ERRORS as exc:
            self.log.warning("repair_failed", error=repr(exc))  # stays stale: retried before the next decision
        if reply:
            for env, _ in decision.replies:
                answer(env, refused or Unavailable(STORAGE_DOWN))

    async def _event_command(self, command: Any, deadline: float | None = None) -> dict[str, Any]:
        from .event_commands import run_event_command
        return await run_event_command(self, command, deadline)
