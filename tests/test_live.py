"""Live updates over Server-Sent Events: the event stream, my bookings' stream, fan-out and shutdown.

Everything goes through the real engine, Redis pub/sub and PostgreSQL; waits are generous and
nothing asserts how fast a message came.
"""
from __future__ import annotations

import asyncio
import dataclasses
import uuid

import aiohttp
import aiormq
from aiohttp.test_utils import TestClient, TestServer

from api import keys
from happening.processes import create_app
from happening_engine.config import DatabaseSettings
from happening_engine.connections import create_redis
from happening_engine.constants import shard_queue
from loadtests.fixtures import assert_invariants, wait_until
from loadtests.throwaway import create_database, delete_prefix, drop_database
from tests.conftest import RUN_ID, serve_on_free_port
from tests.live_client import Stream


async def _open(client, path: str, user) -> Stream:
    response = await client.get(path, headers=user.headers)
    assert response.status == 200, await response.text()
    return Stream(response)


async def _book(client, user, event_id: str, seats: int = 1) -> dict:
    response = await client.post(f"/v1/events/{event_id}/bookings", headers=user.headers, json={"seats": seats})
    assert response.status == 201, await response.text()
    return await response.json()


async def _cancel(client, user, booking_id: str) -> None:
    response = await client.post(f"/v1/bookings/{booking_id}/cancel", headers=user.headers)
    assert response.status == 200, await response.text()


async def test_event_stream_starts_with_the_state_and_pushes_a_booking(api_client, make_user, make_event) -> None:
    organizer, viewer, booker = await make_user(), await make_user(), await make_user()
    event = await make_event(organizer, total_slots=5, max_seats_per_booking=3)
    stream = await _open(api_client, f"/v1/events/{event['id']}/live", viewer)
    headers = stream.response.headers
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["Cache-Control"] == "no-cache" and headers["X-Accel-Buffering"] == "no"
    first = await stream.next()
    assert first is not None and first.event == "state"
    assert first.data == {"event_id": event["id"], "status": "upcoming", "total_slots": 5, "available_slots": 5,
                          "waitlist_length": 0, "committed_at": None}
    await _book(api_client, booker, event["id"], 2)
    pushed = await stream.until(lambda m: m.data["available_slots"] == 3)
    assert pushed.event == "state" and pushed.data["waitlist_length"] == 0 and pushed.data["committed_at"]
    stream.close()


async def test_my_stream_shows_position_drop_then_promotion(api_client, make_user, make_event) -> None:
    organizer, first, ahead, me = await make_user(), await make_user(), await make_user(), await make_user()
    event = await make_event(organizer, total_slots=1, max_seats_per_booking=1)
    confirmed = await _book(api_client, first, event["id"])
    waiting_ahead = await _book(api_client, ahead, event["id"])
    mine = await _book(api_client, me, event["id"])
    assert (confirmed["status"], waiting_ahead["position"], mine["position"]) == ("confirmed", 1, 2)

    stream = await _open(api_client, "/v1/me/live", me)
    snapshot = await stream.next()
    assert snapshot is not None and snapshot.event == "snapshot"
    assert [(b["id"], b["status"], b["position"]) for b in snapshot.data["items"]] == [(mine["id"], "waiting", 2)]

    await _cancel(api_client, ahead, waiting_ahead["id"])  # the one ahead of me leaves the waitlist
    moved = await stream.until(lambda m: m.event == "booking" and m.data["id"] == mine["id"])
    assert (moved.data["status"], moved.data["position"]) == ("waiting", 1)

    await _cancel(api_client, first, confirmed["id"])  # a seat frees up: I am promoted
    promoted = await stream.until(lambda m: m.event == "booking" and m.data["status"] != "waiting")
    assert promoted.data == {"id": mine["id"], "event_id": event["id"], "user_id": me.id, "status": "confirmed",
                             "seats": 1, "waiting_number": None, "position": None,
                             "updated_at": promoted.data["updated_at"], "committed_at": promoted.data["committed_at"]}
    assert promoted.data["committed_at"] is not None
    stream.close()


async def test_streams_need_a_token_and_an_event_the_caller_may_see(api_client, make_user, make_event) -> None:
    organizer, stranger = await make_user(), await make_user()
    members_only = await make_event(organizer, visibility="members")
    draft = await make_event(organizer, publish=False)
    for path in ("/v1/me/live", f"/v1/events/{members_only['id']}/live"):
        response = await api_client.get(path)
        assert response.status == 401 and response.content_type == "application/problem+json"
        response = await api_client.get(path, headers={"Authorization": "Bearer not-a-token"})
        assert response.status == 401
    for event_id in (members_only["id"], draft["id"], str(uuid.uuid4())):
        response = await api_client.get(f"/v1/events/{event_id}/live", headers=stranger.headers)
        assert response.status == 404 and (await response.json())["detail"] == "event not found"


async def test_a_member_streams_a_members_only_event(api_client, make_user, make_event, join_org) -> None:
    organizer, member = await make_user(), await make_user()
    await join_org(organizer, member, "user")
    event = await make_event(organizer, visibility="members", total_slots=4)
    stream = await _open(api_client, f"/v1/events/{event['id']}/live", member)
    assert (await stream.next()).data["available_slots"] == 4  # type: ignore[union-attr]
    await _book(api_client, member, event["id"], 1)
    await stream.until(lambda m: m.data["available_slots"] == 3)
    stream.close()


async def test_event_cancel_reaches_the_event_stream_and_the_bookers(api_client, make_user, make_event) -> None:
    organizer, booker, waiter = await make_user(), await make_user(), await make_user()
    event = await make_event(organizer, total_slots=1, max_seats_per_booking=1)
    booking = await _book(api_client, booker, event["id"])
    waiting = await _book(api_client, waiter, event["id"])
    event_stream = await _open(api_client, f"/v1/events/{event['id']}/live", booker)
    mine, theirs = await _open(api_client, "/v1/me/live", booker), await _open(api_client, "/v1/me/live", waiter)
    assert (await event_stream.next()).data["waitlist_length"] == 1  # type: ignore[union-attr]
    for stream in (mine, theirs):
        assert (await stream.next()).event == "snapshot"  # type: ignore[union-attr]
    response = await api_client.post(f"/v1/events/{event['id']}/cancel", headers=organizer.headers)
    assert response.status == 200, await response.text()
    state = await event_stream.until(lambda m: m.data["status"] == "cancelled")
    assert (state.data["available_slots"], state.data["waitlist_length"]) == (1, 0)
    for stream, booked in ((mine, booking), (theirs, waiting)):
        message = await stream.until(lambda m: m.event == "booking")
        assert (message.data["id"], message.data["status"]) == (booked["id"], "cancelled")
    for stream in (event_stream, mine, theirs):
        stream.close()


async def test_burst_ends_with_every_stream_at_the_final_state(api_client, make_user, make_event, pool, redis,
                                                                settings) -> None:
    organizer = await make_user()
    event = await make_event(organizer, total_slots=100, max_seats_per_booking=2)
    users = await asyncio.gather(*(make_user() for _ in range(300)))
    streams = [await _open(api_client, f"/v1/events/{event['id']}/live", u) for u in users[:4]]
    watcher = users[-1]  # books last: waits; their own stream must end showing their final position
    mine = await _open(api_client, "/v1/me/live", watcher)
    for stream in (*streams, mine):
        assert await stream.next() is not None
    await asyncio.gather(*(_book(api_client, u, event["id"], 1 + i % 2) for i, u in enumerate(users[:-1])))
    last = await _book(api_client, watcher, event["id"], 1)
    waiting = [b for b in (await (await api_client.get(
        f"/v1/events/{event['id']}/bookings?status=waiting&limit=200", headers=organizer.headers)).json())["items"]]
    cancels = [b for b in waiting[:5] if b["id"] != last["id"]]  # the head leaves: the positions behind drop
    by_id = {u.id: u for u in users}
    await asyncio.gather(*(_cancel(api_client, by_id[b["user_id"]], b["id"]) for b in cancels))

    final = await (await api_client.get(f"/v1/events/{event['id']}", headers=organizer.headers)).json()
    expected = (final["available_slots"], final["waitlist_length"])
    for stream in streams:
        await stream.until(lambda m: (m.data["available_slots"], m.data["waitlist_length"]) == expected)
        stream.close()
    position = (await (await api_client.get(f"/v1/bookings/{last['id']}", headers=watcher.headers)).json())
    await mine.until(lambda m: m.event == "booking" and (m.data["status"], m.data["position"])
                     == (position["status"], position["position"]))
    mine.close()
    for stream in streams:
        states = [m.data for m in stream.seen if m.event == "state"]
        assert (states[-1]["available_slots"], states[-1]["waitlist_length"]) == expected
    await assert_invariants(pool, redis, settings.redis.prefix, uuid.UUID(event["id"]))


async def test_closing_the_client_leaves_no_subscriber_behind(api_client, make_user, make_event) -> None:
    fanout = api_client.app[keys.FANOUT]
    await wait_until(lambda: _true(len(fanout) == 0), what="earlier tests' streams to be forgotten")
    user = await make_user()
    event = await make_event(user)
    streams = [await _open(api_client, f"/v1/events/{event['id']}/live", user) for _ in range(3)]
    streams.append(await _open(api_client, "/v1/me/live", user))
    for stream in streams:
        assert await stream.next() is not None
    assert len(fanout) == 4
    for stream in streams:
        stream.close()
    await wait_until(lambda: _true(len(fanout) == 0), what="closed streams to be forgotten")
    assert not fanout._feeds and not fanout._users and not fanout._waiting and not fanout._watched


async def _true(value: bool) -> bool:
    return value


async def test_shutdown_ends_open_streams_cleanly(settings, token) -> None:
    """aiohttp waits up to its shutdown_timeout (60 s) for open handlers; the streams must end first."""
    name = f"happening_test_{RUN_ID}_live{uuid.uuid4().hex[:6]}"
    own = dataclasses.replace(settings, database=DatabaseSettings(url=await create_database(name), max_size=5),
                              redis=dataclasses.replace(settings.redis, prefix=f"{settings.redis.prefix}{name}:"))
    runner, port = await serve_on_free_port(create_app(own, {"api", "engine"}))
    closing: asyncio.Future[None] | None = None
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            headers = {"Authorization": f"Bearer {await token(f'{name}@example.test')}"}
            async with session.get("/v1/me", headers=headers) as response:
                org_id = (await response.json())["memberships"][0]["org_id"]
            body = {"name": "Show", "category": "concert", "starts_at": "2099-01-01T20:00:00Z",
                    "ends_at": "2099-01-01T23:00:00Z", "total_slots": 3}
            async with session.post(f"/v1/organizations/{org_id}/events", headers=headers, json=body) as response:
                event_id = (await response.json())["id"]
            response = await session.get(f"/v1/events/{event_id}/live", headers=headers)
            stream = Stream(response)
            assert (await stream.next()).data["available_slots"] == 3  # type: ignore[union-attr]
            closing = asyncio.ensure_future(runner.cleanup())
            assert await stream.next() is None  # the chunked body ended properly: no error, no hang
            await asyncio.wait_for(closing, 30)
    finally:
        if closing is None:
            await runner.cleanup()
        client = create_redis(own.redis)
        await delete_prefix(client, own.redis.prefix)
        await client.aclose()
        await drop_database(name)


async def test_streams_work_with_the_engine_in_another_process(settings, token) -> None:
    """`happening api` + `happening engine`: the engine's messages reach the API's streams via Redis."""
    amqp = dataclasses.replace(settings.amqp, prefix=settings.amqp.prefix + ".live")
    split = dataclasses.replace(settings, amqp=amqp)
    engine = TestServer(create_app(split, {"engine"}))
    await engine.start_server()
    api = TestClient(TestServer(create_app(split, {"api"})))
    await api.start_server()
    try:
        while (await api.get("/readyz")).status != 200:  # until the engine beats its shard's heartbeat
            await asyncio.sleep(0.05)
        headers = {"Authorization": f"Bearer {await token('live-split@example.test')}"}
        org = (await (await api.get("/v1/me", headers=headers)).json())["memberships"][0]["org_id"]
        body = {"name": "Split", "category": "webinar", "starts_at": "2031-01-01T10:00:00Z",
                "ends_at": "2031-01-01T12:00:00Z", "total_slots": 1}
        event = (await (await api.post(f"/v1/organizations/{org}/events", json=body, headers=headers)).json())["id"]
        assert (await api.post(f"/v1/events/{event}/publish", headers=headers)).status == 200
        stream = Stream(await api.get(f"/v1/events/{event}/live", headers=headers))
        assert (await stream.next()).data["available_slots"] == 1  # type: ignore[union-attr]
        booked = await api.post(f"/v1/events/{event}/bookings", json={"seats": 1}, headers=headers)
        assert booked.status == 201, await booked.text()
        await stream.until(lambda m: m.data["available_slots"] == 0)
        stream.close()
    finally:
        await api.close()
        await engine.close()
        connection = await aiormq.connect(split.amqp.url)
        channel = await connection.channel()
        await channel.queue_delete(shard_queue(split.amqp.prefix, 0))
        await connection.close()
