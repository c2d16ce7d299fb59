"""The clock: moves published events on (upcoming -> ongoing -> completed), expires invites and deletes old
idempotency keys. It sends each due event an `AdvanceLifecycle` like any client, so the actor stays its
only writer; an advisory lock per shard keeps an active engine and its standbys from sweeping together."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import structlog

from .client import EngineClient
from .commands import AdvanceLifecycle
from .config import EngineSettings
from .errors import DomainError
from .sharding import shard_of
from .store import idempotency, invites
from .tasks import cancel_and_wait

log = structlog.get_logger(__name__)
LIFECYCLE_LOCK = 0x6C696665  # "life"

DUE_EVENTS = """
select id from events
where (status = 'upcoming' and starts_at <= now()) or (status = 'ongoing' and ends_at <= now())
order by least(starts_at, ends_at)
limit 1000
"""


class LifecycleClock:
    """`shards`: the current shard count (the shard map's, for a sharded engine; else the settings')."""

    def __init__(self, pool: asyncpg.Pool, client: EngineClient, settings: EngineSettings,
                 shards: Callable[[], int] | None = None) -> None:
        self.pool = pool
        self.client = client
        self.settings = settings
        self.shards = shards or (lambda: settings.shards)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="lifecycle-clock")

    async def stop(self) -> None:
        if self._task:
            await cancel_and_wait(self._task)

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("lifecycle_sweep_failed", error=repr(exc))
            await asyncio.sleep(self.settings.lifecycle_interval)

    async def sweep(self) -> int:
        """Advance every due event of this shard; returns how many were sent a command."""
        shards = self.shards()
        if self.settings.shard >= shards:
            return 0  # no such shard under the current map
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("select pg_try_advisory_xact_lock($1, $2)", LIFECYCLE_LOCK,
                                       self.settings.shard):
                return 0  # another engine of this shard is sweeping
            if self.settings.shard == 0:  # invites and keys belong to no shard: shard 0's clock tidies them
                async with conn.transaction():
                    await invites.expire_due(conn)
                    await idempotency.purge_expired(conn)
            due = [r["id"] for r in await conn.fetch(DUE_EVENTS)
                   if shard_of(r["id"], shards) == self.settings.shard]
            results = await asyncio.gather(*(self.client.send(AdvanceLifecycle(e)) for e in due),
                                           return_exceptions=True)
        for event_id, result in zip(due, results, strict=True):
            if isinstance(result, DomainError):
                log.warning("lifecycle_advance_refused", event_id=str(event_id), error=result.detail)
            elif isinstance(result, BaseException):
                raise result
            else:
                log.info("event_moved_on", event_id=str(event_id), status=result["status"])
        return len(due)
