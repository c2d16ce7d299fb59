"""Fencing in the write itself (sql/007, store/bookings.py, lua/): a write under a claim another engine
replaced commits nothing; a write whose command deadline passed while it waited commits nothing; Redis
keys a newer owner wrote are left alone. Real PostgreSQL and Redis."""
from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import pytest
from prometheus_client import REGISTRY

from happening_engine.commands import Book
from happening_engine.engine import Engine
from happening_engine.errors import Expired, Fenced
from happening_engine.fencing import Fence
from happening_engine.seats import Seats
from happening_engine.store.booking_rows import BatchWrite, BookingRow, HistoryRow
from happening_engine.store.bookings import write_after, write_batches
from happening_engine.store.shards import claim, load_map
from loadtests.fixtures import make_event, make_org, make_users


async def _batch(pool: asyncpg.Pool, deadline: float | None = None) -> BatchWrite:
    user, = await make_users(pool, 1)
    event = await make_event(pool, await make_org(pool, user), 10)
    now = datetime.now(UTC)
    booking = BookingRow(uuid.uuid4(), user, 1, "confirmed", None, now, None, now, now, new=True, request_id="r")
    write = BatchWrite(event, await pool.fetchval("select org_id from events where id = $1", event),
                       deadline=deadline)
    write.bookings[booking.id] = booking
    write.history.append(HistoryRow(booking.id, "created", {"status": "confirmed"}, now))
    write.confirmed_delta = 1
    return write


async def _stored(pool: asyncpg.Pool, write: BatchWrite) -> tuple[int, int]:
    row = await pool.fetchrow("select (select count(*) from bookings where event_id = $1) as bookings,"
                              " confirmed_seats from events where id = $1", write.event_id)
    return row["bookings"], row["confirmed_seats"]


async def _fence(pool: asyncpg.Pool, owner: str) -> Fence:
    current = await load_map(pool)
    fence = Fence.sharded(0)
    epoch = await claim(pool, current.shards, 0, owner)
    assert epoch is not None
    fence.claimed(current.shards, 0, epoch, lambda: None)
    return fence


async def test_a_write_under_a_replaced_claim_commits_nothing(pool) -> None:
    old = await _fence(pool, "old-owner")
    first = await _batch(pool)
    async with pool.acquire() as conn:
        await write_batches(conn, [first], old)  # the owner writes
    assert await _stored(pool, first) == (1, 1)
    new = await _fence(pool, "new-owner")  # another engine claims the shard
    late = await _batch(pool)
    async with pool.acquire() as conn:
        with pytest.raises(Fenced):
            await write_batches(conn, [late], old)
        committed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        committed.set_result(True)
        with pytest.raises(Fenced):  # the write behind a predecessor too
            await write_after(conn, late, committed, old)
    assert old.lost.is_set() and await _stored(pool, late) == (0, 0)
    async with pool.acquire() as conn:
        await write_batches(conn, [late], new)  # the new owner's write goes through
    assert await _stored(pool, late) == (1, 1)


async def test_a_claim_waits_for_the_previous_owners_write_in_flight(pool) -> None:
    old = await _fence(pool, "old-owner")
    write = await _batch(pool)
    async with pool.acquire() as conn, conn.transaction():
        await write_batches(conn, [write], old)  # holds the shard's row FOR SHARE until it commits
        taking = asyncio.ensure_future(_fence(pool, "new-owner"))
        await _until_waiting(pool, "update shard_owners")
        assert not taking.done()
    await taking  # once the write committed, the claim goes through
    assert await _stored(pool, write) == (1, 1)


async def _until_waiting(pool: asyncpg.Pool, query: str) -> None:
    """Until a backend of this database running `query` (the start of it) waits for a lock."""
    while not await pool.fetchval("select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
                                  " and datname = current_database() and query like $1", f"{query}%"):
        await asyncio.sleep(0.01)


async def test_a_write_that_waited_past_its_deadline_commits_nothing(pool) -> None:
    passed = await _batch(pool, deadline=time.time() - 1)
    async with pool.acquire() as conn:
        with pytest.raises(Expired):
            await write_batches(conn, [passed], None)
    assert await _stored(pool, passed) == (0, 0)

    stalled = await _batch(pool, deadline=time.time() + 0.5)
    async with pool.acquire() as blocker:
        async with blocker.transaction():  # the event's row is locked: the write waits for it
            await blocker.execute("select 1 from events where id = $1 for update", stalled.event_id)
            async with pool.acquire() as conn:
                writing = asyncio.ensure_future(write_batches(conn, [stalled], None))
                await _until_waiting(pool, "with \nfence as")
                await asyncio.sleep(max(0.0, stalled.deadline - time.time()) + 0.05)  # type: ignore[operator]
        with pytest.raises(Expired):  # the lock came after the deadline: the API may have said 503
            await writing
    assert await _stored(pool, stalled) == (0, 0)


async def test_a_write_whose_commit_comes_after_its_deadline_commits_nothing(pool) -> None:
    """The deadline is checked again at COMMIT (sql/008): an engine paused between the write's last
    statement and its COMMIT must not commit after the API told the callers 503 (issue 17)."""
    late = await _batch(pool, deadline=time.time() + 0.3)
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.PostgresError) as refused:
            async with conn.transaction():  # write_batches joins it: the COMMIT is this block's end
                await write_batches(conn, [late], None)  # in time: its statement passes the check
                await asyncio.sleep(max(0.0, late.deadline - time.time()) + 0.1)  # type: ignore[operator]
        assert refused.value.sqlstate == "HF002"
        assert await conn.fetchval("select current_setting('happening.deadline', true)") in (None, "")
    assert await _stored(pool, late) == (0, 0)

    in_time = await _batch(pool, deadline=time.time() + 5)  # committed before its deadline: kept
    undated = await _batch(pool)  # no deadline (`happening serve`): never checked
    async with pool.acquire() as conn:
        async with conn.transaction():
            await write_batches(conn, [in_time], None)
        async with conn.transaction():
            await write_batches(conn, [undated], None)
            await asyncio.sleep(0.1)
    assert await _stored(pool, in_time) == (1, 1)
    assert await _stored(pool, undated) == (1, 1)


async def test_redis_keys_of_a_newer_owner_are_left_alone(redis, settings) -> None:
    event, user = uuid.uuid4(), uuid.uuid4()
    old, new = Fence(epoch=5), Fence(epoch=7)
    old_seats, new_seats = (Seats(redis, settings.redis.prefix, 10, f) for f in (old, new))
    assert await old_seats.rebuild(event, 3, 3, 0, [], {})
    assert await new_seats.decide(event, [("B", uuid.uuid4(), user, 1)]) == [["REBUILD"]]  # an older owner's
    assert await new_seats.rebuild(event, 3, 3, 0, [], {})
    with pytest.raises(Fenced):
        await old_seats.decide(event, [("B", uuid.uuid4(), user, 1)])
    assert not await old_seats.rebuild(event, 3, 0, 0, [], {}) and old.lost.is_set()
    result = await new_seats.decide(event, [("B", uuid.uuid4(), user, 1)])
    assert result[0][0] == "CONFIRMED" and int(result[0][1]) == 2  # the new owner's state was kept
    await new_seats.clear(UUID(str(event)))


async def test_an_actor_whose_rebuild_is_fenced_claims_no_rebuild_and_books_nothing(pool, redis, settings) -> None:
    """Keys a newer owner wrote are not overwritten on activation, and the old owner neither counts nor
    announces a rebuild that did not happen; its command is refused as fenced."""
    (user,) = await make_users(pool, 1)
    event = await make_event(pool, await make_org(pool, user), total=3, max_seats=1)
    assert await Seats(redis, settings.redis.prefix, 10, Fence(epoch=7)).rebuild(event, 3, 3, 0, [], {})
    before = REGISTRY.get_sample_value("happening_cache_rebuilds_total", {"reason": "activation"}) or 0
    engine = Engine(pool, redis, settings, fence=Fence(epoch=5))
    await engine.start()
    try:
        with pytest.raises(Fenced):
            await engine.send(Book(event, user, 1))
    finally:
        await engine.stop()
    assert (REGISTRY.get_sample_value("happening_cache_rebuilds_total", {"reason": "activation"}) or 0) == before
    assert await pool.fetchval("select count(*) from bookings where event_id = $1", event) == 0
