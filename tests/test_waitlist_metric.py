"""`happening_waitlist_length`: people waiting per event, a series only while the event has a waitlist and
an active actor."""
from __future__ import annotations

import asyncio
from uuid import UUID

from prometheus_client import REGISTRY

from happening_engine.commands import Book, CancelBooking
from loadtests.fixtures import make_event, make_org, make_users, wait_until
from tests.engine_env import quick_retirement  # noqa: F401 (a fixture)


def waiting(event) -> float | None:
    return REGISTRY.get_sample_value("happening_waitlist_length", {"event_id": str(event)})


async def test_the_gauge_follows_an_events_waitlist_and_goes_with_it(quick_retirement, pool) -> None:
    engine = quick_retirement
    users = await make_users(pool, 4)
    event = await make_event(pool, await make_org(pool, users[0]), total=1, max_seats=1)
    other = await make_event(pool, await make_org(pool, users[0]), total=5, max_seats=1)
    first = await engine.send(Book(event, users[0], 1))
    assert waiting(event) is None  # no waitlist, no series
    results = await asyncio.gather(*(engine.send(Book(event, u, 1)) for u in users[1:]))
    await engine.send(Book(other, users[1], 1))
    assert [r["status"] for r in results] == ["waiting"] * 3
    assert waiting(event) == 3 and waiting(other) is None
    await engine.send(CancelBooking(event, UUID(first["id"]), users[0]))  # the head is promoted
    assert waiting(event) == 2
    await wait_until(lambda: asyncio.sleep(0, not engine.registry.actors), what="actors retired")
    assert waiting(event) is None  # the actor retired: its event's series went with it
