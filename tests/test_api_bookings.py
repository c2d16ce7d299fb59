"""Bookings over HTTP: book, history, notifications, waitlist and promotion, idempotency, a stampede."""
from __future__ import annotations

import asyncio
import hashlib
import json
import uuid

from loadtests.fixtures import assert_invariants


async def _book(api_client, user, event_id, seats, key=None):
    headers = dict(user.headers)
    if key:
        headers["Idempotency-Key"] = key
    return await api_client.post(f"/v1/events/{event_id}/bookings", headers=headers, json={"seats": seats})


async def test_user_books_two_seats(api_client, make_user, make_event, pool) -> None:
    organizer, user = await make_user(), await make_user()
    event = await make_event(organizer, total_slots=50)
    response = await _book(api_client, user, event["id"], 2)
    assert response.status == 201, await response.text()
    booking = await response.json()
    assert booking["status"] == "confirmed" and booking["seats"] == 2 and booking["position"] is None
    assert booking["event_id"] == event["id"] and booking["user_id"] == user.id
    shown = await (await api_client.get(f"/v1/events/{event['id']}", headers=user.headers)).json()
    assert shown["available_slots"] == 48 and shown["waitlist_length"] == 0
    history = await (await api_client.get(f"/v1/bookings/{booking['id']}/history", headers=user.headers)).json()
    assert [h["action"] for h in history["items"]] == ["created"]
    notes = await (await api_client.get("/v1/notifications", headers=user.headers)).json()
    assert [(n["type"], n["event_id"]) for n in notes["items"]] == [("booking_confirmed", event["id"])]
    assert notes["items"][0]["status"] in ("pending", "sent", "failed")
    mine = await (await api_client.get("/v1/bookings", headers=user.headers)).json()
    assert [b["id"] for b in mine["items"]] == [booking["id"]]
    # a second active booking is refused with the first one's id
    response = await _book(api_client, user, event["id"], 1)
    assert response.status == 409 and (await response.json())["booking_id"] == booking["id"]
    # the organizer sees it; a stranger does not
    assert (await api_client.get(f"/v1/bookings/{booking['id']}", headers=organizer.headers)).status == 200
    stranger = await make_user()
    assert (await api_client.get(f"/v1/bookings/{booking['id']}", headers=stranger.headers)).status == 404
    assert (await api_client.post(f"/v1/bookings/{booking['id']}/cancel", headers=stranger.headers)).status == 404
    # seats above max_seats_per_booking: 422, nothing written
    before = await pool.fetchval("select count(*) from bookings")
    response = await _book(api_client, stranger, event["id"], 11)
    assert response.status == 422 and (await response.json())["field"] == "seats"
    assert await pool.fetchval("select count(*) from bookings") == before


async def test_full_event_waitlist_and_promotion(api_client, make_user, make_event, pool, redis, settings) -> None:
    organizer = await make_user()
    a, b, c = await make_user(), await make_user(), await make_user()
    event = await make_event(organizer, total_slots=3, max_seats_per_booking=3)
    first = await (await _book(api_client, a, event["id"], 2)).json()
    second = await (await _book(api_client, b, event["id"], 2)).json()
    third = await (await _book(api_client, c, event["id"], 1)).json()
    assert first["status"] == "confirmed"
    assert second["status"] == "waiting" and second["position"] == 1
    # strict FCFS: c's single seat would fit, but the waitlist is not empty
    assert third["status"] == "waiting" and third["position"] == 2
    assert third["waiting_number"] > second["waiting_number"]
    waitlist = await (await api_client.get(f"/v1/events/{event['id']}/waitlist", headers=organizer.headers)).json()
    assert [(w["id"], w["position"]) for w in waitlist["items"]] == [(second["id"], 1), (third["id"], 2)]
    assert (await api_client.get(f"/v1/events/{event['id']}/waitlist", headers=a.headers)).status == 404  # not a member

    response = await api_client.post(f"/v1/bookings/{first['id']}/cancel", headers=a.headers)
    assert response.status == 200 and (await response.json())["status"] == "cancelled"
    # promotions are committed before the cancel answers
    promoted = await (await api_client.get(f"/v1/bookings/{second['id']}", headers=b.headers)).json()
    assert promoted["status"] == "confirmed" and promoted["position"] is None
    still = await (await api_client.get(f"/v1/bookings/{third['id']}", headers=c.headers)).json()
    assert still["status"] == "confirmed"
    shown = await (await api_client.get(f"/v1/events/{event['id']}", headers=c.headers)).json()
    assert shown["available_slots"] == 0 and shown["waitlist_length"] == 0
    history = await (await api_client.get(f"/v1/bookings/{second['id']}/history", headers=b.headers)).json()
    assert [h["action"] for h in history["items"]] == ["created", "promoted"]
    types = [n["type"] for n in (await (await api_client.get("/v1/notifications", headers=b.headers)).json())["items"]]
    assert sorted(types) == ["booking_waitlisted", "waitlist_promoted"]
    confirmed = await (await api_client.get(f"/v1/events/{event['id']}/bookings?status=confirmed",
                                            headers=organizer.headers)).json()
    assert {x["id"] for x in confirmed["items"]} == {second["id"], third["id"]}
    await assert_invariants(pool, redis, settings.redis.prefix, uuid.UUID(event["id"]))


async def test_idempotency_key(api_client, make_user, make_event, pool) -> None:
    organizer, user = await make_user(), await make_user()
    event = await make_event(organizer, total_slots=10)
    key = uuid.uuid4().hex
    first = await _book(api_client, user, event["id"], 2, key)
    again = await _book(api_client, user, event["id"], 2, key)
    assert first.status == again.status == 201
    assert await first.json() == await again.json()
    other_body = await _book(api_client, user, event["id"], 3, key)
    assert other_body.status == 422 and (await other_body.json())["field"] == "Idempotency-Key"
    assert await pool.fetchval("select count(*) from bookings where user_id = $1", uuid.UUID(user.id)) == 1
    # a failed request releases its key: the same key then works for a valid retry
    other = await make_user()
    bad_key = uuid.uuid4().hex
    assert (await _book(api_client, other, event["id"], 11, bad_key)).status == 422
    await api_client.post(f"/v1/bookings/{(await first.json())['id']}/cancel", headers=user.headers)
    assert (await _book(api_client, other, event["id"], 1, bad_key)).status == 201
    # keys are per user: the same key from another user is a new request
    assert (await _book(api_client, user, event["id"], 2, bad_key)).status == 201
    # in flight: a retry of a claimed key (same request) waits for the stored response, then replays it
    digest = hashlib.sha256(json.dumps({"event": event["id"], "seats": 1}, sort_keys=True).encode()).hexdigest()
    await pool.execute("insert into idempotency_keys (user_id, key, request_hash) values ($1, 'busy', $2)",
                       uuid.UUID(organizer.id), digest)
    await pool.execute("insert into idempotency_keys (user_id, key, request_hash) values ($1, 'stored', $2)",
                       uuid.UUID(organizer.id), digest)
    waiting = asyncio.ensure_future(_book(api_client, organizer, event["id"], 1, "stored"))
    await asyncio.sleep(0.2)  # (whether it polls before or after the answer is stored, it gets the answer)
    stored = {**await first.json(), "seats": 7}  # a booking as stored by the first request, told apart
    await pool.execute("update idempotency_keys set status_code = 201, response = $2"
                       " where user_id = $1 and key = 'stored'", uuid.UUID(organizer.id), stored)
    response = await waiting
    assert response.status == 201 and await response.json() == stored
    assert await pool.fetchval("select count(*) from bookings where user_id = $1", uuid.UUID(organizer.id)) == 0
    # a claim abandoned by a crashed request (no response after a minute) is taken over by a retry
    await pool.execute("update idempotency_keys set created_at = now() - interval '2 minutes'"
                       " where user_id = $1 and key = 'busy'", uuid.UUID(organizer.id))
    response = await _book(api_client, organizer, event["id"], 1, "busy")
    assert response.status == 201, await response.text()
    assert (await _book(api_client, organizer, event["id"], 1, "busy")).status == 201  # and now replays
    # stored responses replay with their status even after the booking changed
    replay = await _book(api_client, user, event["id"], 2, key)
    assert replay.status == 201 and (await replay.json())["status"] == "confirmed"


async def test_300_concurrent_bookings(api_client, make_user, make_event, pool, redis, settings) -> None:
    organizer = await make_user()
    event = await make_event(organizer, total_slots=100, max_seats_per_booking=2)
    users = await asyncio.gather(*(make_user() for _ in range(300)))
    responses = await asyncio.gather(*(_book(api_client, u, event["id"], 1 + i % 2) for i, u in enumerate(users)))
    bodies = [await r.json() for r in responses]
    assert [r.status for r in responses] == [201] * 300, bodies[:3]
    confirmed = [b for b in bodies if b["status"] == "confirmed"]
    waiting = sorted((b for b in bodies if b["status"] == "waiting"), key=lambda b: b["waiting_number"])
    assert sum(b["seats"] for b in confirmed) <= 100
    assert len(confirmed) + len(waiting) == 300
    assert [w["position"] for w in waiting][:1] == [1]
    row = await pool.fetchrow(
        "select coalesce(sum(seats) filter (where status = 'confirmed'), 0) as seats,"
        " count(*) filter (where status = 'waiting') as waiting from bookings where event_id = $1",
        uuid.UUID(event["id"]))
    assert row["seats"] == sum(b["seats"] for b in confirmed) and row["waiting"] == len(waiting)
    shown = await (await api_client.get(f"/v1/events/{event['id']}", headers=organizer.headers)).json()
    assert shown["available_slots"] == 100 - row["seats"] and shown["waitlist_length"] == len(waiting)
    assert 100 - row["seats"] < waiting[0]["seats"]  # the head does not fit, or it would have been confirmed
    await assert_invariants(pool, redis, settings.redis.prefix, uuid.UUID(event["id"]))


async def test_booking_an_event_you_may_not_see_is_404_and_writes_nothing(api_client, make_user, make_event,
                                                                         pool) -> None:
    """Bookings skip the event read for public events; the others still get the membership check."""
    organizer, stranger = await make_user(), await make_user()
    draft = await make_event(organizer, publish=False)
    members = await make_event(organizer, visibility="members")
    for event_id in (draft["id"], members["id"], str(uuid.uuid4())):
        response = await _book(api_client, stranger, event_id, 1)
        assert response.status == 404, await response.text()
        assert (await response.json())["detail"] == "event not found"
    assert (await _book(api_client, organizer, draft["id"], 1)).status == 409  # may see it; not bookable yet
    assert (await _book(api_client, organizer, members["id"], 1)).status == 201
    assert await pool.fetchval("select count(*) from bookings where event_id = any($1::uuid[])",
                               [uuid.UUID(draft["id"]), uuid.UUID(members["id"])]) == 1


async def test_my_bookings_filter_by_event_and_status_and_name_the_event(api_client, make_user, make_event) -> None:
    organizer, user = await make_user(), await make_user()
    first = await make_event(organizer, name="First show", total_slots=1)
    second = await make_event(organizer, name="Second show", total_slots=5)
    for event in (first, second):
        response = await api_client.post(f"/v1/events/{event['id']}/bookings", json={"seats": 1}, headers=user.headers)
        assert response.status == 201, await response.text()
    response = await api_client.get("/v1/bookings", params={"event": second["id"]}, headers=user.headers)
    items = (await response.json())["items"]
    assert [(b["event_id"], b["event_name"], b["status"]) for b in items] == [
        (second["id"], "Second show", "confirmed")]
    response = await api_client.get("/v1/bookings", params={"status": "waiting"}, headers=user.headers)
    assert (await response.json())["items"] == []
    response = await api_client.get("/v1/bookings", params={"event": "nope"}, headers=user.headers)
    assert response.status == 422 and (await response.json())["field"] == "event"


async def test_organizers_see_who_booked_and_who_waits(api_client, make_user, make_event) -> None:
    organizer, first, second = await make_user(), await make_user(), await make_user()
    event = await make_event(organizer, total_slots=1)
    for user in (first, second):
        response = await api_client.post(f"/v1/events/{event['id']}/bookings", json={"seats": 1}, headers=user.headers)
        assert response.status == 201, await response.text()
    mes = [await (await api_client.get("/v1/me", headers=user.headers)).json() for user in (first, second)]
    listed = (await (await api_client.get(f"/v1/events/{event['id']}/bookings", headers=organizer.headers)).json())
    assert {b["user_id"]: (b["user_email"], b["user_name"]) for b in listed["items"]} == {
        me["id"]: (me["email"], me["full_name"]) for me in mes}
    waiting = (await (await api_client.get(f"/v1/events/{event['id']}/waitlist", headers=organizer.headers)).json())
    assert [(b["user_email"], b["position"]) for b in waiting["items"]] == [(mes[1]["email"], 1)]
    # a booker's own reads never carry other people's addresses
    mine = await (await api_client.get("/v1/bookings", headers=first.headers)).json()
    assert "user_email" not in mine["items"][0]


async def test_a_booking_committed_whose_answer_was_lost_is_answered_201(api_client, make_user, make_event,
                                                                         monkeypatch) -> None:
    """An engine that committed a booking and then lost its reply (paused, killed, its connection cut)
    leaves the API with `Unavailable`; the API looks the request up before saying 503, so a client is
    never told 503 for a booking it holds. A request that truly booked nothing still gets 503."""
    from api import keys
    from happening_engine.errors import Unavailable

    organizer, lucky, unlucky = await make_user(), await make_user(), await make_user()
    event = await make_event(organizer, total_slots=5)
    engine = api_client.app[keys.ENGINE]
    send = engine.send

    async def committed_then_lost(command, *args, **kwargs):
        await send(command, *args, **kwargs)
        raise Unavailable("the booking engine did not answer in time")

    async def never_sent(command, *args, **kwargs):
        raise Unavailable("the booking engine did not answer in time")

    monkeypatch.setattr(engine, "send", committed_then_lost)
    response = await api_client.post(f"/v1/events/{event['id']}/bookings", json={"seats": 2}, headers=lucky.headers)
    assert response.status == 201, await response.text()
    booking = await response.json()
    assert booking["status"] == "confirmed" and booking["seats"] == 2
    monkeypatch.setattr(engine, "send", never_sent)
    response = await api_client.post(f"/v1/events/{event['id']}/bookings", json={"seats": 1}, headers=unlucky.headers)
    assert response.status == 503, await response.text()
    monkeypatch.setattr(engine, "send", send)
    mine = await (await api_client.get("/v1/bookings", params={"event": event["id"]}, headers=lucky.headers)).json()
    assert [b["id"] for b in mine["items"]] == [booking["id"]]
    theirs = await (await api_client.get("/v1/bookings", params={"event": event["id"]},
                                         headers=unlucky.headers)).json()
    assert theirs["items"] == []


async def test_cancelling_a_cancelled_booking_answers_it_again_and_changes_nothing(
        api_client, make_user, make_event, pool) -> None:
    """A retried or redelivered cancellation gets the answer the first one got (contract §6), not a 409."""
    organizer, user = await make_user(), await make_user()
    event = await make_event(organizer, total_slots=5)
    booking = await (await _book(api_client, user, event["id"], 2)).json()
    first = await api_client.post(f"/v1/bookings/{booking['id']}/cancel", headers=user.headers)
    assert first.status == 200, await first.text()
    again = await api_client.post(f"/v1/bookings/{booking['id']}/cancel", headers=user.headers)
    assert again.status == 200, await again.text()
    assert await again.json() == await first.json() and (await again.json())["status"] == "cancelled"
    history = await (await api_client.get(f"/v1/bookings/{booking['id']}/history", headers=user.headers)).json()
    assert [h["action"] for h in history["items"]] == ["created", "cancelled"]
    kinds = await pool.fetch("select type from notifications where booking_id = $1 order by created_at",
                             uuid.UUID(booking["id"]))
    assert [k["type"] for k in kinds] == ["booking_confirmed", "booking_cancelled"]
    shown = await (await api_client.get(f"/v1/events/{event['id']}", headers=user.headers)).json()
    assert shown["available_slots"] == 5
