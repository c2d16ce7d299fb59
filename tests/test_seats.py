"""Seats and waitlists in Redis (happening_engine/seats.py and the scripts of lua/) against real Redis,
each test under a key prefix of its own: what a batch decides, strictly first come first served, and
when the keys must be rebuilt from PostgreSQL first."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from redis.asyncio import Redis

from happening_engine.config import Settings
from happening_engine.errors import Fenced
from happening_engine.fencing import Fence
from happening_engine.seats import Seats, WaitEntry
from happening_engine.sharding import shard_of
from loadtests.throwaway import delete_prefix

REBUILD = [["REBUILD"]]


@pytest.fixture
async def prefix(redis: Redis, settings: Settings) -> AsyncIterator[str]:
    """A key prefix of this test's own, emptied afterwards."""
    own = f"{settings.redis.prefix}seats:{uuid.uuid4().hex[:8]}:"
    yield own
    await delete_prefix(redis, own)


@pytest.fixture
def seats(redis: Redis, prefix: str) -> Seats:
    return Seats(redis, prefix, lock_ttl=30)


async def fresh(seats: Seats, total: int) -> UUID:
    """An event whose keys hold `total` free seats, nobody booked or waiting."""
    event = uuid4()
    assert await seats.rebuild(event, total, total, 0, [], {})
    return event


def book(user: UUID, seats: int = 1, booking: UUID | None = None) -> tuple[str, UUID, UUID, int]:
    return ("B", booking or uuid4(), user, seats)


def cancel(booking: UUID, user: UUID, seats: int = 1) -> tuple[str, UUID, UUID, int]:
    return ("C", booking, user, seats)


def statuses(results: list[list[Any]]) -> list[str]:
    return [r[0] for r in results]


async def test_keys_never_built_ask_for_a_rebuild_and_decide_nothing(seats: Seats, redis: Redis) -> None:
    event, user = uuid4(), uuid4()
    assert await seats.decide(event, [book(user)]) == REBUILD
    assert await redis.exists(*seats.keys(event), seats.lock_key(event, user)) == 0


async def test_bookings_are_confirmed_while_they_fit_then_wait_in_arrival_order(seats: Seats) -> None:
    event = await fresh(seats, 5)
    users = [uuid4() for _ in range(4)]
    results = await seats.decide(event, [book(users[0], 2), book(users[1], 2), book(users[2], 2), book(users[3], 1)])
    # the last one would fit in the seat left, but someone waits before it: strictly first come, first served
    assert results == [["CONFIRMED", 3], ["CONFIRMED", 1], ["WAITING", 1, 1], ["WAITING", 2, 2]]


async def test_fcfs_holds_across_batches_and_waiting_numbers_go_on(seats: Seats) -> None:
    event = await fresh(seats, 1)
    first = await seats.decide(event, [book(uuid4()), book(uuid4())])
    second = await seats.decide(event, [book(uuid4())])
    assert statuses(first) == ["CONFIRMED", "WAITING"] and second == [["WAITING", 2, 2]]


async def test_a_user_with_an_active_booking_is_a_duplicate_even_in_the_same_batch(seats: Seats) -> None:
    event, user, booking = await fresh(seats, 5), uuid4(), uuid4()
    results = await seats.decide(event, [book(user, booking=booking), book(user), book(uuid4())])
    assert results == [["CONFIRMED", 4], ["DUPLICATE", str(booking)], ["CONFIRMED", 3]]
    assert await seats.decide(event, [book(user)]) == [["DUPLICATE", str(booking)]]


async def test_a_cancellation_frees_seats_and_promotes_the_head_while_it_fits(seats: Seats) -> None:
    event = await fresh(seats, 3)
    users = [uuid4() for _ in range(4)]
    ids = [uuid4() for _ in users]
    await seats.decide(event, [book(users[0], 3, ids[0]), book(users[1], 1, ids[1]), book(users[2], 3, ids[2]),
                               book(users[3], 1, ids[3])])
    head = WaitEntry(ids[1], users[1], 1).encode()
    # 3 seats free: the head (1 seat) is promoted; the next needs 3 of the 2 left and blocks the one behind it
    assert await seats.decide(event, [cancel(ids[0], users[0], 3)]) == [["confirmed", head]]
    assert await seats.decide(event, [book(users[0])]) == [["WAITING", 4, 3]]  # the seats left are not free for all


async def test_leaving_the_waitlist_frees_no_seats_and_a_second_cancel_is_not_active(seats: Seats) -> None:
    event = await fresh(seats, 1)
    first, second = (uuid4(), uuid4()), (uuid4(), uuid4())  # (booking, user)
    await seats.decide(event, [book(first[1], booking=first[0]), book(second[1], booking=second[0])])
    assert await seats.decide(event, [cancel(*second)]) == [["waiting"]]
    assert await seats.decide(event, [cancel(*second)]) == [["NOT_ACTIVE"]]
    assert await seats.decide(event, [cancel(uuid4(), first[1])]) == [["NOT_ACTIVE"]]  # not the booking it holds
    assert await seats.decide(event, [book(second[1])]) == [["WAITING", 2, 1]]  # may book again


@pytest.mark.parametrize("lost", ["slots", "waitlist", "holders", "meta"])
async def test_keys_that_do_not_agree_ask_for_a_rebuild(seats: Seats, redis: Redis, lost: str) -> None:
    event = await fresh(seats, 2)
    await seats.decide(event, [book(uuid4()), book(uuid4()), book(uuid4())])  # one waits: every key exists
    slots, waitlist, meta, holders = seats.keys(event)
    await redis.delete({"slots": slots, "waitlist": waitlist, "holders": holders, "meta": meta}[lost])
    assert await seats.decide(event, [book(uuid4())]) == REBUILD


async def test_a_rebuild_restores_what_postgresql_holds(seats: Seats) -> None:
    event, holder, held = uuid4(), uuid4(), uuid4()
    waiter, later = WaitEntry(uuid4(), uuid4(), 2), WaitEntry(uuid4(), uuid4(), 1)
    assert await seats.rebuild(event, 10, 0, 41, [waiter], {holder: held, waiter.user_id: waiter.booking_id})
    results = await seats.decide(event, [book(holder), book(later.user_id, 1, later.booking_id)])
    assert results == [["DUPLICATE", str(held)], ["WAITING", 42, 2]]  # numbers go on from PostgreSQL's last
    assert await seats.decide(event, [cancel(held, holder, 10)]) == [["confirmed", waiter.encode(), later.encode()]]


async def test_a_newer_owners_keys_are_left_alone_and_an_older_owners_are_rebuilt(redis: Redis, prefix: str) -> None:
    old, current, newer = (Seats(redis, prefix, 30, Fence(epoch=e)) for e in (5, 6, 7))
    event = uuid4()
    assert await current.rebuild(event, 5, 5, 0, [], {})
    with pytest.raises(Fenced):
        await old.decide(event, [book(uuid4())])
    assert old.fence.lost.is_set()
    assert not await old.rebuild(event, 5, 0, 0, [], {})  # nothing written
    assert statuses(await current.decide(event, [book(uuid4())])) == ["CONFIRMED"]
    assert await newer.decide(event, [book(uuid4())]) == REBUILD  # may hold decisions never committed


async def test_events_deciding_at_once_each_get_their_own_outcome(seats: Seats) -> None:
    events = [await fresh(seats, 1) for _ in range(50)]
    users = [uuid4(), uuid4()]
    results = await asyncio.gather(*(seats.decide(e, [book(u)]) for u in users for e in events))
    assert [statuses(r) for r in results] == [["CONFIRMED"]] * 50 + [["WAITING"]] * 50


async def test_a_capacity_raise_promotes_and_a_cut_below_the_confirmed_seats_is_refused(seats: Seats) -> None:
    event = await fresh(seats, 2)
    users, ids = [uuid4() for _ in range(3)], [uuid4() for _ in range(3)]
    await seats.decide(event, [book(users[0], 2, ids[0]), book(users[1], 1, ids[1]), book(users[2], 2, ids[2])])
    assert await seats.capacity(event, 1) == ["REFUSED", 2]
    assert await seats.capacity(event, 3) == ["OK", WaitEntry(ids[1], users[1], 1).encode()]  # the next needs 2
    assert await seats.decide(event, [book(uuid4())]) == [["WAITING", 3, 2]]


async def test_clearing_a_shard_drops_the_keys_of_its_events_only(seats: Seats, redis: Redis) -> None:
    events: list[UUID] = []
    while len({shard_of(e, 2) for e in events}) < 2 or len(events) < 6:  # events of both shards
        events.append(await fresh(seats, 1))
    for event in events:
        await seats.decide(event, [book(uuid4()), book(uuid4())])  # one confirmed, one waiting: all four keys
    mine = [e for e in events if shard_of(e, 2) == 0]
    assert await seats.clear_shard(0, 2) == len(mine)
    assert [await redis.exists(*seats.keys(e)) for e in events] == [0 if e in mine else 4 for e in events]
