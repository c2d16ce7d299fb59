"""A frozen previous owner cannot hold up a claim or a reshard (issue 17). An engine SIGSTOPped while it
streams a COPY (or any message) after its fence check leaves its backend 'active' in ClientRead holding
the shard's row FOR SHARE, which no session timeout ends: the claim or the count change ends that
backend once it waited STALE_AFTER, and only the backends of the owner it replaces."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from happening_engine.config import DatabaseSettings
from happening_engine.db import APPLICATION_PREFIX, SESSION_TIMEOUTS, create_pool
from happening_engine.store.shards import STALE_AFTER, claim, load_map, set_shards
from loadtests.throwaway import create_database, drop_database

BOUND = STALE_AFTER + 2.0  # seconds; below lock_timeout (5 s), after which the wait would fail otherwise
OLD, NEW = "frozen-host:4242", "standby-host:4343"


@dataclass
class Db:
    url: str
    pool: asyncpg.Pool


@pytest.fixture
async def db() -> AsyncIterator[Db]:
    """A database of its own: the tests change the shard map."""
    name = f"happening_stale_{uuid.uuid4().hex[:10]}"
    url = await create_database(name)
    pool = await create_pool(DatabaseSettings(url=url, min_size=1, max_size=4))
    try:
        yield Db(url, pool)
    finally:
        await pool.close()
        await drop_database(name)


@dataclass
class Frozen:
    conn: asyncpg.Connection
    write: asyncio.Task[None]
    thawed: asyncio.Event

    async def alive(self, db: Db) -> bool:
        return bool(await db.pool.fetchval("select count(*) from pg_stat_activity where pid = $1",
                                           self.conn.get_server_pid()))

    async def close(self) -> None:
        self.write.cancel()
        await asyncio.gather(self.write, return_exceptions=True)
        self.conn.terminate()


async def _frozen(db: Db, name: str, epoch: int) -> Frozen:
    """A connection named `name` that checked the fence of shard 0 of 1 and stalls in the middle of a COPY,
    as a SIGSTOPped engine's does: 'active', waiting for the client (ClientRead)."""
    conn = await asyncpg.connect(db.url, server_settings={**SESSION_TIMEOUTS, "application_name": name})
    thawed = asyncio.Event()

    async def rows() -> AsyncIterator[tuple[str]]:
        yield ("first",)
        await thawed.wait()  # the rest of the COPY comes only once the engine is thawed

    async def write() -> None:
        async with conn.transaction():
            await conn.fetchval("select happening_fence(1, 0, $1)", epoch)
            await conn.execute("create temp table stalled (s text)")
            await conn.copy_records_to_table("stalled", records=rows())

    frozen = Frozen(conn, asyncio.create_task(write()), thawed)
    async with asyncio.timeout(5):
        while not await db.pool.fetchval("select count(*) from pg_stat_activity where pid = $1 and state = 'active'"
                                         " and wait_event = 'ClientRead' and query like 'COPY%'",
                                         conn.get_server_pid()):
            await asyncio.sleep(0.05)
    return frozen


async def _owned_by_old(db: Db) -> int:
    await load_map(db.pool, 1)
    epoch = await claim(db.pool, 1, 0, OLD)
    assert epoch is not None
    return epoch


async def test_a_claim_ends_the_frozen_previous_owners_backend(db: Db) -> None:
    epoch = await _owned_by_old(db)
    frozen = await _frozen(db, APPLICATION_PREFIX + OLD, epoch)
    try:
        started = time.monotonic()
        taken = await claim(db.pool, 1, 0, NEW)
        assert time.monotonic() - started < BOUND
        assert taken is not None and taken > epoch
        assert not await frozen.alive(db)
        frozen.thawed.set()
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError)):  # thawed, its write fails
            await frozen.write
    finally:
        await frozen.close()


async def test_a_count_change_ends_the_frozen_owners_backend(db: Db) -> None:
    epoch = await _owned_by_old(db)
    frozen = await _frozen(db, APPLICATION_PREFIX + OLD, epoch)
    try:
        started = time.monotonic()
        assert (await set_shards(db.pool, 2)).shards == 2
        assert time.monotonic() - started < BOUND
        assert not await frozen.alive(db)
        assert await db.pool.fetchval("select owner from shard_owners where shards = 1") is None  # voided
    finally:
        await frozen.close()


@pytest.mark.parametrize("name", ["psql", APPLICATION_PREFIX + NEW], ids=["another_program", "the_claimer"])
async def test_a_claim_leaves_other_backends_alone(db: Db, name: str) -> None:
    """A holder that is not the replaced owner's engine (another program, or the claimer itself) is waited
    for as before: the claim fails at lock_timeout and the holder lives on."""
    epoch = await _owned_by_old(db)
    frozen = await _frozen(db, name, epoch)
    try:
        with pytest.raises(asyncpg.LockNotAvailableError):
            await claim(db.pool, 1, 0, NEW)
        assert await frozen.alive(db)
    finally:
        await frozen.close()
