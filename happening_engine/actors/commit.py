"""Group commit: the decided batches of every actor of this process in one transaction (else one fsync per
booking when many events are busy), a failed group retried batch by batch so one bad batch fails only its
actor; and a hot event's next batch written behind its predecessor (`commit_behind`)."""
from __future__ import annotations

import asyncio
from uuid import UUID

import asyncpg
import structlog

from ..fencing import Fence
from ..metrics import COMMITS_BEHIND
from ..store.booking_rows import BatchWrite, Counters
from ..store.bookings import PredecessorFailed, write_after, write_batches

log = structlog.get_logger(__name__)


class GroupCommit:
    def __init__(self, pool: asyncpg.Pool, fence: Fence | None = None) -> None:
        self.pool = pool
        self.fence = fence  # every write checks it (a sharded engine's claim on its shard)
        self._pending: list[tuple[BatchWrite, asyncio.Future[Counters | None]]] = []
        self._task: asyncio.Task[None] | None = None
        # A batch behind its predecessor holds a connection while it waits for it: never so many that
        # the group commit, which those predecessors need, could find the pool empty.
        self.max_behind = max(0, min(2, pool.get_max_size() - 2))
        self._behind = 0

    def reserve_behind(self) -> bool:
        """Take one of the `max_behind` places; `commit_behind` gives it back."""
        if self._behind >= self.max_behind:
            return False
        self._behind += 1
        return True

    async def commit_behind(self, write: BatchWrite, predecessor: asyncio.Future[bool]) -> Counters | None:
        """Write `write` while `predecessor` (its event's previous batch) commits; commit it only if that one did,
        else raise `PredecessorFailed`. Call after `reserve_behind()` returned True; returns the counters, only
        once `predecessor` ended, so whoever repairs the event's Redis keys finds no write of it in flight."""
        outcome = "failed"
        try:
            async with self.pool.acquire() as conn:
                counters = await write_after(conn, write, predecessor, self.fence)
            outcome = "committed"
            return counters
        except Exception as exc:
            if isinstance(exc, PredecessorFailed):
                outcome = "predecessor_failed"
            await asyncio.wait([predecessor])
            raise
        finally:
            self._behind -= 1
            COMMITS_BEHIND.labels(outcome).inc()

    async def commit(self, write: BatchWrite) -> Counters | None:
        """Return the event's counters once `write` is committed; raise what made it fail."""
        future: asyncio.Future[Counters | None] = asyncio.get_running_loop().create_future()
        self._pending.append((write, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="group-commit")
        return await future

    async def _run(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            try:
                counters = await self._write([w for w, _ in group])
            except Exception as exc:  # retried one by one below; each caller gets its own outcome
                if len(group) == 1:
                    _resolve_commit(group[0][1], exc)
                    continue
                log.warning("group_commit_failed", batches=len(group), error=repr(exc))
                for write, future in group:
                    try:
                        counters = await self._write([write])
                    except Exception as single:  # this batch's own failure, reported to its actor
                        _resolve_commit(future, single)
                    else:
                        _resolve_commit(future, None, counters.get(write.event_id))
            else:
                for write, future in group:
                    _resolve_commit(future, None, counters.get(write.event_id))

    async def _write(self, writes: list[BatchWrite]) -> dict[UUID, Counters]:
        async with self.pool.acquire() as conn:
            return await write_batches(conn, writes, self.fence)  # atomic: one statement, or its own transaction


def _resolve_commit(future: asyncio.Future[Counters | None], error: BaseException | None,
                    counters: Counters | None = None) -> None:
    """Tell a commit's caller its outcome: the event's counters, or `error` (unless it gave up waiting)."""
    if future.done():
        return
    if error is None:
        future.set_result(counters)
    else:
        future.set_exception(error)
