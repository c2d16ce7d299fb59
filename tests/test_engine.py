"""The booking engine against real Redis and PostgreSQL: FCFS, no oversell, self-healing cache."""
from __future__ import annotations

import asyncio
import gc
import random
import weakref
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from happening_engine.actors import registry as registry_module
from happening_engine.commands import Book, CancelBooking, CancelEvent, UpdateEvent
from happening_engine.config import Settings
from happening_engine.engine import Engine
from happening_engine.errors import AccessUnchecked, Conflict, InvalidInput, NotFound, Unavailable
from happening_engine.memory import release_freed_memory
from happening_engine.store.booking_rows import BatchWrite, BookingRow, HistoryRow
from happening_engine.store.bookings import PredecessorFailed, write_after
from loadtests.fixtures import assert_invariants, failing_inserts, make_event, make_org, make_users
from loadtests.throwaway import delete_prefix
from tests.engine_env import quick_retirement, running_engine  # noqa: F401 (quick_retirement: a fixture)


@pytest.fixture
async def engine(pool: asyncpg.Pool, redis: Redis, settings: Settings) -> AsyncIterator[Engine]:
    async for engine in running_engine(pool, redis, settings):
        yield engine


@pytest.fixture
async def org(pool: asyncpg.Pool) -> UUID:
    (owner,) = await make_users(pool, 1)
    return await make_org(pool, owner)


async def send_all(engine: Engine, commands: list[Any]) -> list[Any]:
    """Send concurrently; arrival order at the actor is list order (each send enqueues synchronously)."""
    return await asyncio.gather(*(engine.send(c) for c in commands), return_exceptions=True)


def fcfs(total: int, seat_requests: list[int]) -> list[str]:
    """The outcome strict first come, first served must give for bookings arriving in this order."""
    available, queue, out = total, 0, []
    for seats in seat_requests:
        if queue == 0 and seats <= available:
            available -= seats
            out.append("confirmed")
        else:
            queue += 1
            out.append("waiting")
    return out


async def test_thousand_concurrent_bookings_follow_fcfs_without_oversell(engine, pool, redis, settings, org):
    users = await make_users(pool, 1000)
    event = await make_event(pool, org, total=50, max_seats=4)
    rng = random.Random(7)
    seats = [rng.randint(1, 4) for _ in users]
    results = await send_all(engine, [Book(event, u, s) for u, s in zip(users, seats)])

    assert not [r for r in results if isinstance(r, BaseException)]
    assert [r["status"] for r in results] == fcfs(50, seats)
    waiting = [r for r in results if r["status"] == "waiting"]
    assert [r["waiting_number"] for r in waiting] == list(range(1, len(waiting) + 1))
    assert [r["position"] for r in waiting] == list(range(1, len(waiting) + 1))
    confirmed = sum(r["seats"] for r in results if r["status"] == "confirmed")
    assert confirmed <= 50
    db_confirmed = await pool.fetchval("select sum(seats) from bookings where event_id = $1"
                                       " and status = 'confirmed'", event)
    assert db_confirmed == confirmed
    assert await pool.fetchval("select count(*) from notifications where event_id = $1", event) == 1000
    await assert_invariants(pool, redis, settings.redis.prefix, event)


async def test_many_events_deciding_at_once_each_follow_fcfs(engine, pool, redis, settings, org):
    """300 events x 4 users at once: the actors share Redis round trips, each event's outcome is
    still its own arrival order (2 confirmed, then waiting numbers 1, 2)."""
    users = await make_users(pool, 4)
    events = [await make_event(pool, org, total=2, max_seats=1) for _ in range(300)]
    commands = [Book(e, u, 1) for u in users for e in events]  # interleaved: each event's users in order
    results = await send_all(engine, commands)
    assert not [r for r in results if isinstance(r, BaseException)]
    by_event: dict[UUID, list[Any]] = {}
    for command, result in zip(commands, results):
        by_event.setdefault(command.event_id, []).append((result["status"], result["waiting_number"]))
    assert all(outcome == [("confirmed", None), ("confirmed", None), ("waiting", 1), ("waiting", 2)]
               for outcome in by_event.values())
    for event in events[::30]:
        await assert_invariants(pool, redis, settings.redis.prefix, event)


async def test_cancellation_promotes_in_order_and_a_head_that_does_not_fit_blocks(engine, pool, redis,
                                                                                   settings, org):
    users = await make_users(pool, 5)
    event = await make_event(pool, org, total=4)
    a = await engine.send(Book(event, users[0], 2))
    b = await engine.send(Book(event, users[1], 2))
    c = await engine.send(Book(event, users[2], 3))  # waits; head
    d = await engine.send(Book(event, users[3], 1))  # waits behind c although 1 seat would fit later
    assert [x["status"] for x in (a, b, c, d)] == ["confirmed", "confirmed", "waiting", "waiting"]

    await engine.send(CancelBooking(event, UUID(a["id"]), users[0]))  # frees 2: head c needs 3 -> blocks
    states = dict(await pool.fetch("select id::text, status from bookings where event_id = $1", event))
    assert states[c["id"]] == "waiting" and states[d["id"]] == "waiting"
    await assert_invariants(pool, redis, settings.redis.prefix, event)

    await engine.send(CancelBooking(event, UUID(b["id"]), users[1]))  # frees 4: c (3) then d (1) fit
    states = dict(await pool.fetch("select id::text, status from bookings where event_id = $1", event))
    assert states[c["id"]] == "confirmed" and states[d["id"]] == "confirmed"
    history = await pool.fetch("select action from booking_history where booking_id = $1 order by id",
                               UUID(c["id"]))
    assert [h["action"] for h in history] == ["created", "promoted"]
    promoted_by = await pool.fetchval("select actor_id from audit_log where entity_id = $1 and action = 'promoted'",
                                      UUID(c["id"]))
    assert promoted_by == users[1]  # whose cancellation freed the seats
    kinds = await pool.fetch("select type from notifications where booking_id = $1 order by seq", UUID(c["id"]))
    assert [k["type"] for k in kinds] == ["booking_waitlisted", "waitlist_promoted"]
    await assert_invariants(pool, redis, settings.redis.prefix, event)


async def test_concurrent_duplicates_get_one_booking(engine, pool, redis, settings, org):
    (user,) = await make_users(pool, 1)
    event = await make_event(pool, org, total=10)
    results = await send_all(engine, [Book(event, user, 1) for _ in range(200)])
    ok = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(ok) == 1 and len(refused) == 199
    assert {r.extra["booking_id"] for r in refused} == {ok[0]["id"]}
    with pytest.raises(Conflict) as again:
        await engine.send(Book(event, user, 2))
    assert again.value.extra["booking_id"] == ok[0]["id"]
    # after cancelling, the user may book again
    await engine.send(CancelBooking(event, UUID(ok[0]["id"]), user))
    assert (await engine.send(Book(event, user, 2)))["status"] == "confirmed"
    await assert_invariants(pool, redis, settings.redis.prefix, event)


async def test_capacity_raise_promotes_and_lowering_below_confirmed_is_refused(engine, pool, redis,
                                                                                settings, org):
    users = await make_users(pool, 4)
    event = await make_event(pool, org, total=3)
    results = [await engine.send(Book(event, u, 2)) for u in users]
    assert [r["status"] for r in results] == ["confirmed", "waiting", "waiting", "waiting"]
    with pytest.raises(Conflict):
        await engine.send(UpdateEvent(event, {"total_slots": 1}))
    await engine.send(UpdateEvent(event, {"total_slots": 6}))  # 4 free -> two heads of 2 promoted
    statuses = [await pool.fetchval("select status from bookings where id = $1", UUID(r["id"])) for r in results]
    assert statuses == ["confirmed", "confirmed", "confirmed", "waiting"]
    await engine.send(UpdateEvent(event, {"total_slots": 6 - 0}))  # no-op
    await engine.send(UpdateEvent(event, {"total_slots": 7}))  # 1 free, head needs 2: stays waiting
    assert await pool.fetchval("select status from bookings where id = $1", UUID(results[3]["id"])) == "waiting"
    updated = await pool.fetchval("select count(*) from notifications where event_id = $1"
                                  " and type = 'event_updated'", event)
    assert updated == 8  # two capacity changes x four active bookers
    message = await pool.fetchval("select message from notifications where event_id = $1"
                                  " and type = 'event_updated' limit 1", event)
    assert "(capacity)" in message
    await assert_invariants(pool, redis, settings.redis.prefix, event)


async def test_seats_out_of_range_is_refused(engine, pool, org):
    (user,) = await make_users(pool, 1)
    event = await make_event(pool, org, total=5, max_seats=3)
    with pytest.raises(InvalidInput) as err:
        await engine.send(Book(event, user, 4))
    assert err.value.field == "seats"
    assert await pool.fetchval("select count(*) from bookings where event_id = $1", event) == 0


async def test_booking_outside_upcoming_is_a_conflict(engine, pool, org):
    (user,) = await make_users(pool, 1)
    draft = await make_event(pool, org, total=5, status="draft")
    with pytest.raises(Conflict):
        await engine.send(Book(draft, user, 1))
    cancelled = await make_event(pool, org, total=5)
    await engine.send(CancelEvent(cancelled))
    with pytest.raises(Conflict):
        await engine.send(Book(cancelled, user, 1))


async def test_public_only_booking_is_refused_unless_the_event_is_public(engine, pool, org):
    """The API sends `public_only` bookings without reading the event; the actor lets them through
    only for a published public event, and tells nothing else about the others."""
    user, member = await make_users(pool, 2)
    public = await make_event(pool, org, total=5)
    assert (await engine.send(Book(public, user, 1, public_only=True)))["status"] == "confirmed"
    draft = await make_event(pool, org, total=5, status="draft")
    members = await make_event(pool, org, total=5)
    await engine.send(UpdateEvent(members, {"visibility": "members"}))
    for event in (draft, members):
        with pytest.raises(AccessUnchecked):
            await engine.send(Book(event, user, 1, public_only=True))
    assert (await engine.send(Book(members, member, 1)))["status"] == "confirmed"  # membership checked
    assert await pool.fetchval("select count(*) from bookings where event_id = any($1::uuid[])",
                               [draft, members]) == 1


async def test_an_unknown_event_is_404_and_its_actor_retires_at_once(engine):
    """Any id reaches the engine (the API reads no event for bookings): it must not hold an actor
    per made-up id for the idle period."""
    ids = [uuid4() for _ in range(200)]
    results = await send_all(engine, [Book(i, uuid4(), 1) for i in ids])
    assert all(isinstance(r, NotFound) for r in results)
    for _ in range(100):
        if not set(ids) & set(engine.registry.actors):
            break
        await asyncio.sleep(0.01)
    assert not set(ids) & set(engine.registry.actors)


async def test_idle_actors_retire_leaving_nothing_behind_and_reactivate_where_they_left_off(
        quick_retirement, pool, redis, settings, org, monkeypatch):
    """The engine's memory follows its active events: an idle actor retires and every object it held is
    freed, handed back to the OS once per wave of retirements; the next command for its event activates
    a new actor that carries on from PostgreSQL (seats, waiting numbers, the one-active-booking rule)."""
    engine = quick_retirement
    releases: list[bool] = []
    monkeypatch.setattr(registry_module, "RELEASE_AFTER", 100)
    monkeypatch.setattr(registry_module, "RELEASE_DELAY", 0.25)  # longer than any gap within the wave
    monkeypatch.setattr(registry_module, "release_freed_memory",
                        lambda: releases.append(release_freed_memory()))  # the real call, counted
    users = await make_users(pool, 3)
    events = [await make_event(pool, org, total=1, max_seats=1) for _ in range(200)]
    first = await send_all(engine, [Book(e, users[0], 1) for e in events])
    assert [r["status"] for r in first] == ["confirmed"] * len(events)
    actors = [weakref.ref(a) for a in engine.registry.actors.values()]
    assert len(actors) == len(events)

    for _ in range(300):
        if not engine.registry.actors:
            break
        await asyncio.sleep(0.01)
    assert engine.registry.actors == {}
    await asyncio.sleep(0.5)
    assert len(releases) == 1  # 200 retirements, one release once they stopped
    gc.collect()
    assert [a for a in actors if a() is not None] == []  # nothing keeps a retired actor (or what it held)
    ours = {f"actor-{e}" for e in events}
    assert not [t for t in asyncio.all_tasks() if t.get_name() in ours]

    again = await send_all(engine, [Book(e, u, 1) for e in events for u in (users[0], users[1], users[2])])
    for i in range(len(events)):
        duplicate, second, third = again[3 * i:3 * i + 3]
        assert isinstance(duplicate, Conflict)  # still has an active booking: read back from PostgreSQL
        assert (second["status"], second["waiting_number"], second["position"]) == ("waiting", 1, 1)
        assert (third["status"], third["waiting_number"], third["position"]) == ("waiting", 2, 2)
    for event in events[::40]:
        await assert_invariants(pool, redis, settings.redis.prefix, event)


async def test_cache_flushed_mid_run_is_rebuilt(engine, pool, redis, settings, org):
    users = await make_users(pool, 600)
    event = await make_event(pool, org, total=100, max_seats=3)
    rng = random.Random(11)
    first = [Book(event, u, rng.randint(1, 3)) for u in users[:300]]

    async def flush_soon() -> None:
        await asyncio.sleep(0.005)
        await delete_prefix(redis, settings.redis.prefix)  # what FLUSHALL does to our keys

    results, _ = await asyncio.gather(send_all(engine, first), flush_soon())
    await delete_prefix(redis, settings.redis.prefix)
    more = await send_all(engine, [Book(event, u, rng.randint(1, 3)) for u in users[300:]])
    everything = list(results) + list(more)
    assert not [r for r in everything if isinstance(r, BaseException)]
    # strict FCFS across the flush: the outcome equals one-by-one in arrival order
    assert [r["status"] for r in everything] == fcfs(100, [r["seats"] for r in everything])
    await assert_invariants(pool, redis, settings.redis.prefix, event)


async def test_postgresql_failure_in_write_path_leaves_redis_and_postgresql_agreeing(engine, pool, redis,
                                                                                     settings, org):
    users = await make_users(pool, 300)
    event = await make_event(pool, org, total=40, max_seats=2)
    async with failing_inserts(pool, "user_id", users[150]):
        results = await send_all(engine, [Book(event, u, 1 + i % 2) for i, u in enumerate(users)])
    failed = [i for i, r in enumerate(results) if isinstance(r, Unavailable)]
    assert 150 in failed
    assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, Unavailable)]
    told = {r["id"]: r["status"] for r in results if isinstance(r, dict)}
    stored = dict(await pool.fetch("select id::text, status from bookings where event_id = $1", event))
    assert told == stored  # every reply was committed; nothing failed was stored
    await assert_invariants(pool, redis, settings.redis.prefix, event)

    # terminate the engine's PostgreSQL backends in the middle of a burst
    users2 = await make_users(pool, 200)

    async def kill_backends() -> None:
        await asyncio.sleep(0.01)
        await pool.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname ="
                           " current_database() and pid <> pg_backend_pid()")
        # asyncpg may hand out a pooled connection whose backend was killed while idle with an
        # InternalClientError (MagicStack/asyncpg#1069) rather than a connection error: replace them
        await pool.expire_connections()

    results2, _ = await asyncio.gather(send_all(engine, [Book(event, u, 1) for u in users2]), kill_backends())
    assert all(isinstance(r, (dict, Unavailable)) for r in results2)
    told = {r["id"]: r["status"] for r in results2 if isinstance(r, dict)}
    stored = dict(await pool.fetch("select id::text, status from bookings where event_id = $1"
                                   " and user_id = any($2::uuid[])", event, users2))
    assert told.keys() <= stored.keys()
    # users refused with 503 can book again once PostgreSQL answers
    retry = [users2[i] for i, r in enumerate(results2) if isinstance(r, Unavailable)]
    again = await send_all(engine, [Book(event, u, 1) for u in retry])
    assert all(isinstance(r, dict) for r in again), again
    await assert_invariants(pool, redis, settings.redis.prefix, event)


@pytest.fixture
async def small_batches(pool: asyncpg.Pool, redis: Redis, settings: Settings) -> AsyncIterator[Engine]:
    """An engine deciding at most 10 commands at a time: a burst becomes many batches, each decided
    while the one before still commits, so batches are written behind one another."""
    async for engine in running_engine(pool, redis, settings, batch_max=10):
        yield engine


def commits_behind(outcome: str) -> float:
    return REGISTRY.get_sample_value("happening_commits_behind_total", {"outcome": outcome}) or 0.0


async def stored_counters_agree(pool: asyncpg.Pool, event: UUID) -> bool:
    """The event's counters equal what its bookings say (a batch's counters go in apart from its rows)."""
    return bool(await pool.fetchval(
        "select e.confirmed_seats = coalesce(sum(b.seats) filter (where b.status = 'confirmed'), 0)"
        " and e.waiting_count = count(*) filter (where b.status = 'waiting')"
        " from events e left join bookings b on b.event_id = e.id where e.id = $1"
        " group by e.confirmed_seats, e.waiting_count", event))


async def test_batches_committed_behind_one_another_keep_fcfs(small_batches, pool, redis, settings, org):
    users = await make_users(pool, 400)
    event = await make_event(pool, org, total=60, max_seats=3)
    seats = [1 + i % 3 for i in range(len(users))]
    before = commits_behind("committed")
    results = await send_all(small_batches, [Book(event, u, s) for u, s in zip(users, seats)])
    assert commits_behind("committed") > before  # the case under test happened
    assert not [r for r in results if isinstance(r, BaseException)]
    assert [r["status"] for r in results] == fcfs(60, seats)
    waiting = [r for r in results if r["status"] == "waiting"]
    assert [r["waiting_number"] for r in waiting] == list(range(1, len(waiting) + 1))
    stored = dict(await pool.fetch("select id::text, status from bookings where event_id = $1", event))
    assert stored == {r["id"]: r["status"] for r in results}
    assert await stored_counters_agree(pool, event)
    await assert_invariants(pool, redis, settings.redis.prefix, event)


async def test_a_batch_behind_a_failed_commit_is_not_committed(small_batches, pool, redis, settings, org):
    users = await make_users(pool, 400)
    event = await make_event(pool, org, total=500, max_seats=2)  # room for all: every seat counts
    # each failure is slow, so that the next batch is likely written behind the failing one
    poisoned = [25, 145, 265]
    before = commits_behind("predecessor_failed")
    async with failing_inserts(pool, "user_id", *(users[i] for i in poisoned), delay=0.2):
        results = await send_all(small_batches, [Book(event, u, 1 + i % 2) for i, u in enumerate(users)])
    assert commits_behind("predecessor_failed") > before  # the case under test happened
    assert all(isinstance(results[i], Unavailable) for i in poisoned)
    assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, Unavailable)]
    told = {r["id"]: r["status"] for r in results if isinstance(r, dict)}
    stored = dict(await pool.fetch("select id::text, status from bookings where event_id = $1", event))
    assert told == stored  # every reply was committed; nothing refused was stored
    assert await stored_counters_agree(pool, event)
    await assert_invariants(pool, redis, settings.redis.prefix, event)
    # whoever heard 503 books once PostgreSQL takes the write again
    retry = [users[i] for i, r in enumerate(results) if isinstance(r, Unavailable)]
    again = await send_all(small_batches, [Book(event, u, 1) for u in retry])
    assert all(isinstance(r, dict) for r in again), again
    assert await stored_counters_agree(pool, event)
    await assert_invariants(pool, redis, settings.redis.prefix, event)


async def test_a_batch_failing_behind_a_slow_one_repairs_redis_after_that_one_commits(small_batches, pool, redis,
                                                                                      settings, org):
    users = await make_users(pool, 60)
    event = await make_event(pool, org, total=500, max_seats=2)
    slow, bad = users[25], users[35]  # batch 3 commits slowly; batch 4, written behind it, fails at once
    await pool.execute(f"""
        create function slow_or_failing() returns trigger language plpgsql as $$
        begin
            if new.user_id = '{slow}' then perform pg_sleep(0.3); end if;
            if new.user_id = '{bad}' then raise exception 'injected failure'; end if;
            return new;
        end $$;
        create trigger slow_or_failing before insert on bookings for each row execute function slow_or_failing();
    """)
    try:
        results = await send_all(small_batches, [Book(event, u, 1 + i % 2) for i, u in enumerate(users)])
    finally:
        await pool.execute("drop trigger slow_or_failing on bookings; drop function slow_or_failing();")
    assert isinstance(results[35], Unavailable) and isinstance(results[25], dict)
    told = {r["id"]: r["status"] for r in results if isinstance(r, dict)}
    assert told == dict(await pool.fetch("select id::text, status from bookings where event_id = $1", event))
    await assert_invariants(pool, redis, settings.redis.prefix, event)  # Redis counts the slow batch's seats


async def test_cancellations_in_a_burst_of_small_batches_promote_what_was_just_queued(small_batches, pool, redis,
                                                                                     settings, org):
    first = await make_users(pool, 30)
    event = await make_event(pool, org, total=30, max_seats=1)
    held = await send_all(small_batches, [Book(event, u, 1) for u in first])
    later = await make_users(pool, 60)
    # new bookings (they queue) interleaved with cancellations (each promotes the queue's head, often
    # a booking of the batch just before, possibly still committing)
    commands: list[Any] = []
    for i, user in enumerate(later):
        commands.append(Book(event, user, 1))
        if i % 2:
            commands.append(CancelBooking(event, UUID(held[i // 2]["id"]), first[i // 2]))
    results = await send_all(small_batches, commands)
    assert not [r for r in results if isinstance(r, BaseException)]
    await assert_invariants(pool, redis, settings.redis.prefix, event)
    assert await stored_counters_agree(pool, event)
    statuses = dict(await pool.fetch("select user_id, status from bookings where event_id = $1"
                                     " and user_id = any($2::uuid[])", event, later))
    assert sum(1 for s in statuses.values() if s == "confirmed") == 30  # each cancellation promoted one


async def test_write_after_commits_only_behind_a_committed_predecessor(pool, org):
    (user,) = await make_users(pool, 1)
    event = await make_event(pool, org, total=10)

    def batch() -> BatchWrite:
        now = datetime.now(UTC)
        write = BatchWrite(event, org, confirmed_delta=1)
        booking = uuid4()
        write.bookings[booking] = BookingRow(booking, user, 1, "confirmed", None, now, None, now, now, new=True)
        write.history.append(HistoryRow(booking, "created", {"status": "confirmed"}, now))
        return write

    async def outcome(value: bool) -> bool:
        return value

    async with pool.acquire() as conn:
        with pytest.raises(PredecessorFailed):
            await write_after(conn, batch(), outcome(False))
        assert await conn.fetchval("select count(*) from bookings where event_id = $1", event) == 0
        await write_after(conn, batch(), outcome(True))
    assert await pool.fetchval("select count(*) from bookings where event_id = $1", event) == 1
    assert await pool.fetchval("select confirmed_seats from events where id = $1", event) == 1


async def test_cancelling_an_event_cancels_every_active_booking(engine, pool, redis, settings, org):
    users = await make_users(pool, 30)
    event = await make_event(pool, org, total=10, max_seats=2)
    await send_all(engine, [Book(event, u, 2) for u in users])
    await engine.send(CancelEvent(event))
    counts = dict(await pool.fetch("select status, count(*) from bookings where event_id = $1 group by 1", event))
    assert counts == {"cancelled": 30}
    per_user = await pool.fetch("select user_id, count(*) as n from notifications where event_id = $1"
                                " and type = 'booking_cancelled' group by 1", event)
    assert len(per_user) == 30 and all(r["n"] == 1 for r in per_user)
    await assert_invariants(pool, redis, settings.redis.prefix, event)


async def test_group_commit_across_events_fails_only_the_bad_batch(engine, pool, redis, settings, org):
    users = await make_users(pool, 20)
    events = [await make_event(pool, org, total=10) for _ in range(40)]
    poisoned_event = events[7]
    commands = [Book(e, u, 1) for u in users for e in events]  # 800 bookings interleaved over 40 events
    async with failing_inserts(pool, "event_id", poisoned_event):
        results = await send_all(engine, commands)
    for command, result in zip(commands, results):
        if command.event_id == poisoned_event:
            assert isinstance(result, Unavailable)
        else:
            assert isinstance(result, dict), result
    counts = dict(await pool.fetch("select event_id, count(*) from bookings where event_id = any($1::uuid[])"
                                   " group by 1", events))
    assert poisoned_event not in counts and all(counts[e] == 20 for e in events if e != poisoned_event)
    for event in events:
        await assert_invariants(pool, redis, settings.redis.prefix, event)


@pytest.mark.parametrize("lost", ["waitlist", "slots", "holders", "meta"])
async def test_a_partly_lost_cache_is_rebuilt_before_the_next_decision(engine, pool, redis, settings, org, lost):
    users = await make_users(pool, 6)
    event = await make_event(pool, org, total=2)
    first = await send_all(engine, [Book(event, u, 1) for u in users[:5]])  # 2 confirmed, 3 waiting
    assert [r["status"] for r in first] == ["confirmed"] * 2 + ["waiting"] * 3
    await redis.delete(f"{settings.redis.prefix}event:{{{event}}}:{lost}")
    late = await engine.send(Book(event, users[5], 1))
    assert (late["status"], late["position"], late["waiting_number"]) == ("waiting", 4, 4)  # still last in line
    await engine.send(CancelBooking(event, UUID(first[0]["id"]), users[0]))  # promotes the head, not the latest
    statuses = dict(await pool.fetch("select id::text, status from bookings where event_id = $1", event))
    assert statuses[first[2]["id"]] == "confirmed" and statuses[late["id"]] == "waiting"
    await assert_invariants(pool, redis, settings.redis.prefix, event)


async def test_seats_and_times_are_fixed_once_the_event_started(engine, pool, org):
    from datetime import timedelta
    (user,) = await make_users(pool, 1)
    event = await make_event(pool, org, total=5, starts_in=-timedelta(minutes=1))
    await pool.execute("update events set status = 'ongoing' where id = $1", event)
    with pytest.raises(Conflict):
        await engine.send(UpdateEvent(event, {"total_slots": 50}, user))
    updated = await engine.send(UpdateEvent(event, {"description": "now with snacks"}, user))
    assert updated["description"] == "now with snacks"
