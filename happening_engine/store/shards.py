"""The shard map and shard ownership in PostgreSQL (sql/007): read, seed, change, claim. Changing the count
bumps the epoch of every claim under another count in the same transaction, fencing the old map's engines."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import structlog

from ..db import APPLICATION_PREFIX
from ..tasks import cancel_and_wait
from . import Conn, Executor

log = structlog.get_logger(__name__)
STALE_AFTER = 2.0  # seconds a claim or a count change waits for writes in flight before ending stale holders

# The backends that block `$1` and belong to an owner whose claim the waiting change replaces (an engine's
# connections are named after its claims' owner, db.application_name), in this database only. A frozen
# engine's backend can hold its shard's row for as long as the engine stays frozen: stopped mid-COPY or
# mid-message it is 'active', so neither idle_in_transaction_session_timeout nor lock_timeout ends it.
# Ending it rolls its write back, which nobody was told had committed.
_END_STALE = """
select a.pid, a.application_name, a.state, a.wait_event, pg_terminate_backend(a.pid) as ended
from pg_stat_activity a
where a.pid = any(pg_blocking_pids($1)) and a.datname = current_database()
  and a.application_name in (select left($2 || o.owner, 63) from shard_owners o where {stale})
"""
_REPLACED_CLAIM = "o.shards = $3 and o.shard = $4 and o.owner <> $5"  # another owner of the claimed shard
_OTHER_COUNT = "o.shards <> $3"  # the claims a count change voids


async def _end_stale(pool: asyncpg.Pool, waiter: int, stale: str, *args: object) -> None:
    query = _END_STALE.format(stale=stale)
    while True:
        await asyncio.sleep(STALE_AFTER)
        try:
            for r in await pool.fetch(query, waiter, APPLICATION_PREFIX, *args):
                log.warning("stale_shard_holder_ended", pid=r["pid"], application_name=r["application_name"],
                            state=r["state"], wait_event=r["wait_event"], ended=r["ended"])
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("stale_shard_holder_check_failed", error=repr(exc))


@contextlib.asynccontextmanager
async def _ending_stale(pool: asyncpg.Pool, waiter: int, stale: str, *args: object) -> AsyncIterator[None]:
    """While the block runs on backend `waiter`, end the backends of replaced owners that keep it waiting."""
    watcher = asyncio.create_task(_end_stale(pool, waiter, stale, *args))
    try:
        yield
    finally:
        await cancel_and_wait(watcher)


@dataclass(frozen=True, slots=True)
class MapVersion:
    """The shard map as of one version: events go to shard `hash(event) mod shards`."""

    version: int
    shards: int


@dataclass(frozen=True, slots=True)
class Owner:
    shards: int
    shard: int
    epoch: int
    owner: str | None
    claimed_at: datetime | None


async def load_map(conn: Executor, seed: int = 1) -> MapVersion:
    """The current map; a database without one gets version 1 with `seed` shards (the documented
    HAPPENING_ENGINE_SHARDS of whichever entry point came first)."""
    row = await conn.fetchrow("select version, shards from shard_map")
    if row is None:
        row = await conn.fetchrow(
            "with seeded as (insert into shard_map (version, shards) values (1, $1) on conflict do nothing"
            " returning version, shards) select * from seeded union all select version, shards from shard_map"
            " limit 1", seed)
        assert row is not None, "the seeded union returns the row inserted or the one already there"
    return MapVersion(row["version"], row["shards"])


async def set_shards(pool: asyncpg.Pool, shards: int) -> MapVersion:
    """A new map version with `shards` shards (the same count: nothing changes). Every claim under another
    count is voided in the same transaction, after that owner's writes in flight (ended after STALE_AFTER)."""
    async with pool.acquire() as conn, _ending_stale(pool, conn.get_server_pid(), _OTHER_COUNT, shards), \
            conn.transaction():
        current = await load_map(conn, shards)
        await conn.execute("select 1 from shard_map for update")
        if current.shards == shards:
            return current
        row = await conn.fetchrow("update shard_map set version = version + 1, shards = $1, changed_at = now()"
                                  " returning version, shards", shards)
        assert row is not None, "load_map made sure the map's one row exists"
        await conn.execute("update shard_owners set epoch = nextval('shard_epochs'), owner = null, claimed_at = now()"
                           " where shards <> $1", shards)
        return MapVersion(row["version"], row["shards"])


async def claim(pool: asyncpg.Pool, shards: int, shard: int, owner: str) -> int | None:
    """Take shard `shard` of `shards` with a new epoch (fencing out its previous owner once that one's
    writes in flight are done or ended); None if the map no longer has `shards` shards. The map's row is
    held FOR SHARE meanwhile, so no change of the count slips in between the check and the claim."""
    async with pool.acquire() as conn, _ending_stale(
            pool, conn.get_server_pid(), _REPLACED_CLAIM, shards, shard, owner), conn.transaction():
        if await conn.fetchval("select shards from shard_map for share") != shards:
            return None
        await conn.execute("insert into shard_owners (shards, shard) values ($1, $2) on conflict do nothing",
                           shards, shard)
        epoch: int | None = await conn.fetchval(
            "update shard_owners set epoch = nextval('shard_epochs'), owner = $3, claimed_at = now()"
            " where shards = $1 and shard = $2 returning epoch", shards, shard, owner)
        return epoch


async def owners(conn: Executor) -> list[Owner]:
    rows = await conn.fetch("select shards, shard, epoch, owner, claimed_at from shard_owners order by shards, shard")
    return [Owner(*r) for r in rows]


async def check_fence(conn: Conn, shards: int, shard: int, epoch: int | None) -> None:
    """Raise (HF001) unless (shards, shard) is still claimed with `epoch`; the row stays locked FOR SHARE
    until the caller's transaction ends, so no claim can slip in before it commits."""
    await conn.fetchval("select happening_fence($1, $2, $3)", shards, shard, epoch)
