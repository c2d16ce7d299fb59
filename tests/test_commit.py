"""The commit pipeline (happening_engine/actors/commit.py) against real PostgreSQL: group commit in
arrival order, a bad batch failing only its own caller, and commit-behind a predecessor."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import asyncpg
import pytest

from happening_engine.actors.commit import GroupCommit
from happening_engine.store.booking_rows import BatchWrite, BookingRow, Counters, HistoryRow, NotificationRow
from happening_engine.store.bookings import PredecessorFailed
from loadtests.fixtures import failing_inserts, make_event, make_org, make_users

BOOKED_ONE = Counters(total_slots=10, available_slots=9, waitlist_length=0)


async def batch(pool: asyncpg.Pool) -> BatchWrite:
    """One confirmed booking of a fresh event with 10 seats, with its history row and notification."""
    user, = await make_users(pool, 1)
    org = await make_org(pool, user)
    event = await make_event(pool, org, total=10)
    now, booking = datetime.now(UTC), uuid4()
    write = BatchWrite(event, org, confirmed_delta=1)
    write.bookings[booking] = BookingRow(booking, user, 1, "confirmed", None, now, None, now, now, new=True)
    write.history.append(HistoryRow(booking, "created", {"status": "confirmed"}, now))
    write.notifications.append(NotificationRow(user, booking, "booking_confirmed", "Booked.", {"seats": 1}))
    return write


async def stored(pool: asyncpg.Pool, writes: list[BatchWrite]) -> list[asyncpg.Record]:
    """The writes' bookings that are in PostgreSQL, in outbox order, with the transaction that wrote each."""
    return await pool.fetch(  # type: ignore[no-any-return]
        "select b.event_id, b.xmin::text as tx from bookings b join notifications n on n.booking_id = b.id"
        " where b.event_id = any($1::uuid[]) order by n.seq", [w.event_id for w in writes])


def future() -> asyncio.Future[bool]:
    return asyncio.get_running_loop().create_future()


async def test_batches_sent_together_commit_in_one_transaction_in_arrival_order(pool) -> None:
    writes = [await batch(pool) for _ in range(5)]
    committer = GroupCommit(pool)
    counters = await asyncio.gather(*(committer.commit(w) for w in writes))
    assert counters == [BOOKED_ONE] * 5  # each caller hears its own event's counters
    rows = await stored(pool, writes)
    assert [r["event_id"] for r in rows] == [w.event_id for w in writes]
    assert len({r["tx"] for r in rows}) == 1


async def test_a_batch_arriving_during_a_commit_goes_in_the_next_one_after_it(pool) -> None:
    first, second = await batch(pool), await batch(pool)
    committer = GroupCommit(pool)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("select 1 from events where id = $1 for update", first.event_id)  # holds it up
        committing = asyncio.ensure_future(committer.commit(first))
        await asyncio.sleep(0.2)
        arriving = asyncio.ensure_future(committer.commit(second))
        await asyncio.sleep(0.2)
        assert not committing.done() and not arriving.done()  # nobody is answered before the commit
    assert await asyncio.wait_for(asyncio.gather(committing, arriving), 10) == [BOOKED_ONE, BOOKED_ONE]
    rows = await stored(pool, [first, second])
    assert [r["event_id"] for r in rows] == [first.event_id, second.event_id]
    assert rows[0]["tx"] != rows[1]["tx"]


async def test_a_failed_group_fails_only_the_bad_batch_and_commits_the_others(pool) -> None:
    writes = [await batch(pool) for _ in range(4)]
    committer = GroupCommit(pool)
    async with failing_inserts(pool, "event_id", writes[2].event_id):
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(committer.commit(w) for w in writes), return_exceptions=True), 10)
    assert isinstance(outcomes[2], asyncpg.PostgresError) and "injected failure" in str(outcomes[2])
    assert [outcomes[i] for i in (0, 1, 3)] == [BOOKED_ONE] * 3
    assert [r["event_id"] for r in await stored(pool, writes)] == [writes[i].event_id for i in (0, 1, 3)]


async def test_a_batch_failing_alone_is_told_and_the_next_commit_still_goes_through(pool) -> None:
    bad, good = await batch(pool), await batch(pool)
    committer = GroupCommit(pool)
    async with failing_inserts(pool, "event_id", bad.event_id):
        with pytest.raises(asyncpg.PostgresError, match="injected failure"):
            await asyncio.wait_for(committer.commit(bad), 10)
    assert await asyncio.wait_for(committer.commit(good), 10) == BOOKED_ONE
    assert [r["event_id"] for r in await stored(pool, [bad, good])] == [good.event_id]


async def _committing_behind(pool) -> tuple[BatchWrite, asyncio.Future[bool], asyncio.Future[Counters | None]]:
    """A batch being committed behind a predecessor whose outcome the test decides."""
    write = await batch(pool)
    committer = GroupCommit(pool)
    predecessor = future()
    assert committer.reserve_behind()
    behind = asyncio.ensure_future(committer.commit_behind(write, predecessor))
    return write, predecessor, behind


async def test_behind_a_committed_predecessor_a_batch_commits_once_it_did(pool) -> None:
    write, predecessor, behind = await _committing_behind(pool)
    await asyncio.sleep(0.2)
    assert not behind.done() and await stored(pool, [write]) == []  # written, not committed
    predecessor.set_result(True)
    assert await asyncio.wait_for(behind, 10) == BOOKED_ONE
    assert len(await stored(pool, [write])) == 1


async def test_behind_a_failed_predecessor_a_batch_commits_nothing(pool) -> None:
    write, predecessor, behind = await _committing_behind(pool)
    await asyncio.sleep(0.1)
    predecessor.set_result(False)
    with pytest.raises(PredecessorFailed):
        await asyncio.wait_for(behind, 10)
    assert await stored(pool, [write]) == []
    assert await pool.fetchval("select confirmed_seats from events where id = $1", write.event_id) == 0


async def test_a_batch_behind_that_fails_at_once_answers_only_after_its_predecessor_ended(pool) -> None:
    """Whoever repairs the event's Redis keys after the failure must find no write of it in flight."""
    write = await batch(pool)
    committer = GroupCommit(pool)
    predecessor = future()
    assert committer.reserve_behind()
    async with failing_inserts(pool, "event_id", write.event_id):
        behind = asyncio.ensure_future(committer.commit_behind(write, predecessor))
        await asyncio.sleep(0.3)
        assert not behind.done()
        predecessor.set_result(True)
        with pytest.raises(asyncpg.PostgresError, match="injected failure"):
            await asyncio.wait_for(behind, 10)


async def test_commits_behind_are_limited_and_each_gives_its_place_back(pool) -> None:
    committer = GroupCommit(pool)
    assert committer.max_behind == 2  # the test pool has room for two
    assert committer.reserve_behind() and committer.reserve_behind()
    assert not committer.reserve_behind()
    failed, committed = future(), future()
    failed.set_result(False)
    committed.set_result(True)
    with pytest.raises(PredecessorFailed):
        await committer.commit_behind(await batch(pool), failed)
    assert await committer.commit_behind(await batch(pool), committed) == BOOKED_ONE
    assert committer.reserve_behind() and committer.reserve_behind()
    assert not committer.reserve_behind()


async def test_a_caller_that_stops_waiting_leaves_the_others_answered(pool) -> None:
    first, second, third = [await batch(pool) for _ in range(3)]
    committer = GroupCommit(pool)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("select 1 from events where id = $1 for update", first.event_id)  # holds it up
        committing = asyncio.ensure_future(committer.commit(first))
        await asyncio.sleep(0.1)
        behind = [asyncio.ensure_future(committer.commit(w)) for w in (second, third)]
        await asyncio.sleep(0.1)
        behind[0].cancel()  # e.g. its actor is being stopped
    assert await asyncio.wait_for(asyncio.gather(committing, behind[1]), 10) == [BOOKED_ONE, BOOKED_ONE]
    assert len(await stored(pool, [first, second, third])) == 3  # already in the group: written all the same
