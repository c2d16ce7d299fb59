"""Events over time, event updates and cancellation with their notifications, and the audit trail,
through HTTP against an app of its own running the API, the engine, the lifecycle clock, the outbox
relay and the notification worker (own database, so the clock and the relay see only this module's rows)."""
from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

import pytest

from api import keys
from loadtests.fixtures import assert_invariants, wait_until

from .helpers import OwnApp, own_app

PARTS = {"api", "engine", "lifecycle", "relay", "worker"}


@pytest.fixture(scope="module")
async def app(settings, token):
    async with own_app(settings, token, PARTS, lifecycle_interval=0.1) as running:
        yield running


async def _status(app: OwnApp, user, event_id: str) -> str:
    response = await app.client.get(f"/v1/events/{event_id}", headers=user.headers)
    assert response.status == 200, await response.text()
    return (await response.json())["status"]  # type: ignore[no-any-return]


async def _audit(app: OwnApp, admin, **filters: str) -> list[dict]:
    """Every page of the org's audit log (newest first)."""
    items, cursor = [], None
    while True:
        params = {**filters, "limit": "200", **({"cursor": cursor} if cursor else {})}
        response = await app.client.get(f"/v1/organizations/{admin.org_id}/audit-log", headers=admin.headers,
                                        params=params)
        assert response.status == 200, await response.text()
        page = await response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def _notified(app: OwnApp, event_id: str, kind: str) -> Counter:
    rows = await app.pool.fetch("select user_id from notifications where event_id = $1 and type = $2",
                                uuid.UUID(event_id), kind)
    return Counter(str(r["user_id"]) for r in rows)


async def test_an_event_crosses_its_times_while_the_app_runs(app: OwnApp) -> None:
    admin, early, late = await app.user(), await app.user(), await app.user()
    event = await app.event(admin, starts_in=timedelta(seconds=1.5), lasts=timedelta(seconds=1), total_slots=5)
    assert event["status"] == "upcoming"
    booking = await app.book(early, event["id"])  # bookable while upcoming
    await wait_until(lambda: _is(app, admin, event["id"], "ongoing"), what="ongoing")
    response = await app.client.post(f"/v1/events/{event['id']}/bookings", headers=late.headers, json={"seats": 1})
    assert response.status == 409, await response.text()
    response = await app.client.post(f"/v1/bookings/{booking['id']}/cancel", headers=early.headers)
    assert response.status == 409
    await wait_until(lambda: _is(app, admin, event["id"], "completed"), what="completed")
    assert (await app.client.post(f"/v1/events/{event['id']}/cancel", headers=admin.headers)).status == 409
    changes = [(a["before"], a["after"], a["actor_id"]) for a in reversed(await _audit(app, admin, entity="event"))
               if a["entity_id"] == event["id"] and a["action"] == "status_changed"]
    assert changes == [({"status": "upcoming"}, {"status": "ongoing"}, None),
                       ({"status": "ongoing"}, {"status": "completed"}, None)]


async def _is(app: OwnApp, user, event_id: str, status: str) -> bool:
    return await _status(app, user, event_id) == status


async def test_an_update_notifies_exactly_the_active_bookers(app: OwnApp) -> None:
    admin = await app.user()
    confirmed, waiting, cancelled, elsewhere = [await app.user() for _ in range(4)]
    event = await app.event(admin, total_slots=2, name="Before")
    other = await app.event(admin, total_slots=2)
    await app.book(confirmed, event["id"], 2)
    assert (await app.book(waiting, event["id"], 1))["status"] == "waiting"
    gone = await app.book(cancelled, event["id"], 1)
    assert (await app.client.post(f"/v1/bookings/{gone['id']}/cancel", headers=cancelled.headers)).status == 200
    await app.book(elsewhere, other["id"], 1)

    new_start = "2098-05-01T18:00:00Z"
    response = await app.client.patch(f"/v1/organizations/{admin.org_id}/events/{event['id']}",
                                      headers=admin.headers, json={"name": "After", "starts_at": new_start,
                                                                   "ends_at": "2098-05-01T21:00:00Z"})
    assert response.status == 200, await response.text()
    assert await _notified(app, event["id"], "event_updated") == Counter({confirmed.id: 1, waiting.id: 1})
    assert await _notified(app, other["id"], "event_updated") == Counter()
    payload = await app.pool.fetchval("select payload from notifications where event_id = $1"
                                      " and type = 'event_updated' limit 1", uuid.UUID(event["id"]))
    assert payload["changed"] == ["ends_at", "name", "starts_at"]
    # the same values again change nothing: no notification, no audit row
    response = await app.client.patch(f"/v1/events/{event['id']}", headers=admin.headers, json={"name": "After"})
    assert response.status == 200
    assert sum((await _notified(app, event["id"], "event_updated")).values()) == 2

    updates = [a for a in await _audit(app, admin, entity="event", actor=admin.id)
               if a["entity_id"] == event["id"] and a["action"] == "updated"]
    assert len(updates) == 1
    assert updates[0]["before"] == {"name": "Before", "starts_at": event["starts_at"], "ends_at": event["ends_at"]}
    assert updates[0]["after"] == {"name": "After", "starts_at": new_start, "ends_at": "2098-05-01T21:00:00Z"}


async def test_cancelling_an_event_with_200_bookings_notifies_each_booker_once(app: OwnApp) -> None:
    admin = await app.user()
    users = await asyncio.gather(*(app.user() for _ in range(200)))
    event = await app.event(admin, total_slots=150, max_seats_per_booking=1)
    bookings = await asyncio.gather(*(app.book(u, event["id"]) for u in users))
    assert Counter(b["status"] for b in bookings) == {"confirmed": 150, "waiting": 50}

    response = await app.client.post(f"/v1/events/{event['id']}/cancel", headers=admin.headers)
    assert response.status == 200 and (await response.json())["status"] == "cancelled"
    event_id = uuid.UUID(event["id"])
    assert await app.pool.fetchval("select count(*) from bookings where event_id = $1 and status <> 'cancelled'",
                                   event_id) == 0
    cancelled = await app.pool.fetch("select user_id, payload from notifications where event_id = $1"
                                     " and type = 'booking_cancelled'", event_id)
    assert Counter(str(r["user_id"]) for r in cancelled) == Counter({u.id: 1 for u in users})
    assert {r["payload"]["reason"] for r in cancelled} == {"event_cancelled"}
    await assert_invariants(app.pool, app.client.app[keys.REDIS], app.settings.redis.prefix, event_id)
    audit = await _audit(app, admin, actor=admin.id)
    assert Counter((a["entity"], a["action"]) for a in audit if a["entity"] == "booking") == {
        ("booking", "cancelled"): 200}
    assert [a["after"] for a in audit if a["entity_id"] == event["id"] and a["action"] == "cancelled"] == [
        {"status": "cancelled"}]
    # every notification of the event goes out through RabbitMQ, each with its audit row
    await wait_until(lambda: _all_sent(app, event_id), timeout=20, what="notifications sent")
    sent = await app.pool.fetchval(
        "select count(*) from audit_log a join notifications n on n.id = a.entity_id"
        " where a.entity = 'notification' and a.action = 'sent' and n.event_id = $1", event_id)
    assert sent == 400  # 150 confirmed + 50 waitlisted + 200 cancelled, one row each


async def _all_sent(app: OwnApp, event_id: uuid.UUID) -> bool:
    return await app.pool.fetchval("select count(*) filter (where status = 'sent') = count(*) from notifications"
                                   " where event_id = $1", event_id)  # type: ignore[no-any-return]


async def test_every_kind_of_change_is_in_the_audit_log(app: OwnApp) -> None:
    admin, organizer, member, first, second = [await app.user() for _ in range(5)]
    org = f"/v1/organizations/{admin.org_id}"
    await app.join(admin, organizer, "organizer")
    await app.join(admin, member, "user")
    assert (await app.client.patch(f"{org}/members/{member.id}", headers=admin.headers,
                                   json={"role": "organizer"})).status == 200
    assert (await app.client.delete(f"{org}/members/{member.id}", headers=admin.headers)).status == 204
    assert (await app.client.patch(org, headers=admin.headers, json={"name": "Renamed"})).status == 200
    revoked = await (await app.client.post(f"{org}/invites", headers=admin.headers,
                                           json={"email": "r@example.test", "role": "user"})).json()
    assert (await app.client.delete(f"{org}/invites/{revoked['id']}", headers=admin.headers)).status == 204
    stale = await (await app.client.post(f"{org}/invites", headers=admin.headers,
                                         json={"email": first.email, "role": "user"})).json()
    await app.pool.execute("update org_invites set expires_at = now() - interval '1 minute' where id = $1",
                           uuid.UUID(stale["id"]))  # seven days pass
    response = await app.client.post(f"/v1/invites/{stale['token']}/accept", headers=first.headers)
    assert response.status == 409  # refused, but the expiry it found is recorded

    event = await app.event(organizer, publish=False, org_id=admin.org_id, total_slots=1, name="Audited")
    assert (await app.client.post(f"/v1/events/{event['id']}/publish", headers=organizer.headers)).status == 200
    confirmed = await app.book(first, event["id"])
    waiting = await app.book(second, event["id"])
    assert (await app.client.post(f"/v1/bookings/{confirmed['id']}/cancel", headers=first.headers)).status == 200
    assert (await app.client.patch(f"/v1/events/{event['id']}", headers=organizer.headers,
                                   json={"total_slots": 3})).status == 200
    assert (await app.client.post(f"/v1/events/{event['id']}/cancel", headers=organizer.headers)).status == 200
    await wait_until(lambda: _all_sent(app, uuid.UUID(event["id"])), what="notifications sent")

    log = await _audit(app, admin)
    await _audit(app, admin)  # reading again records nothing twice
    assert len(await _audit(app, admin)) == len(log)
    kinds = Counter((a["entity"], a["action"]) for a in log)
    for kind, count in {("organization", "created"): 1, ("organization", "renamed"): 1,
                        ("membership", "added"): 3, ("membership", "role_changed"): 1,
                        ("membership", "removed"): 1, ("invite", "created"): 4, ("invite", "accepted"): 2,
                        ("invite", "revoked"): 1, ("invite", "expired"): 1, ("event", "created"): 1,
                        ("event", "published"): 1, ("event", "updated"): 1, ("event", "cancelled"): 1,
                        ("booking", "created"): 2, ("booking", "cancelled"): 2, ("booking", "promoted"): 1,
                        }.items():
        assert kinds[kind] == count, (kind, kinds)
    # 2 bookings x created + cancelled, 1 promotion; 2 accepted invites' emails: all sent and audited
    assert kinds[("notification", "sent")] >= 5
    by = {(a["entity"], a["action"], a["entity_id"]): a for a in log}
    assert by[("membership", "role_changed", member.id)]["before"] == {"role": "user"}
    assert by[("membership", "role_changed", member.id)]["after"] == {"role": "organizer"}
    assert by[("membership", "removed", member.id)]["before"] == {"role": "organizer"}
    expired = by[("invite", "expired", stale["id"])]
    assert expired["actor_id"] is None and expired["after"]["status"] == "expired"
    assert by[("invite", "revoked", revoked["id"])]["actor_id"] == admin.id
    created = by[("event", "created", event["id"])]
    assert created["actor_id"] == organizer.id and created["before"] is None
    assert {k: created["after"][k] for k in ("name", "starts_at", "total_slots")} == {
        "name": "Audited", "starts_at": event["starts_at"], "total_slots": 1}
    assert by[("event", "published", event["id"])]["after"] == {"status": "upcoming"}
    assert by[("event", "updated", event["id"])]["before"] == {"total_slots": 1}
    assert by[("event", "updated", event["id"])]["after"] == {"total_slots": 3}
    assert by[("booking", "created", confirmed["id"])]["actor_id"] == first.id
    assert by[("booking", "cancelled", confirmed["id"])]["before"] == {"status": "confirmed"}
    assert by[("booking", "promoted", waiting["id"])]["after"] == {"status": "confirmed"}
    assert by[("booking", "cancelled", waiting["id"])]["actor_id"] == organizer.id  # with the event
    assert all(a["org_id"] == admin.org_id and a["created_at"] for a in log)
    listed = await (await app.client.get(f"{org}/invites", headers=admin.headers)).json()
    assert {i["id"]: i["status"] for i in listed["items"]}[stale["id"]] == "expired"


async def test_one_orgs_audit_log_never_shows_anothers(app: OwnApp) -> None:
    alice, bob = await app.user(), await app.user()
    await app.join(bob, alice, "user")  # alice is a plain member of bob's org
    mine = await app.event(alice, total_slots=3)
    theirs = await app.event(bob, total_slots=3)
    await app.book(bob, mine["id"])  # bob acts in alice's org
    await app.book(alice, theirs["id"])
    alices = await _audit(app, alice)
    assert alices and {a["org_id"] for a in alices} == {alice.org_id}
    assert theirs["id"] not in {a["entity_id"] for a in alices}
    assert {a["entity_id"] for a in alices if a["actor_id"] == bob.id} == {
        a["entity_id"] for a in await _audit(app, alice, actor=bob.id)}
    assert (await app.client.get(f"/v1/organizations/{bob.org_id}/audit-log", headers=alice.headers)).status == 403
    stranger = await app.user()
    assert (await app.client.get(f"/v1/organizations/{bob.org_id}/audit-log",
                                 headers=stranger.headers)).status == 404
    # the filters: from/to bound by time, entity by kind
    newest = alices[0]["created_at"]
    after = await _audit(app, alice, **{"from": newest})
    assert after and all(a["created_at"] >= newest for a in after)
    before = await _audit(app, alice, to=newest)
    # the worker may audit a notification it delivers meanwhile: compare within the first read's rows
    seen = max(a["id"] for a in alices)
    assert {a["id"] for a in before + after if a["id"] <= seen} == {a["id"] for a in alices}
    assert {a["entity"] for a in await _audit(app, alice, entity="booking")} == {"booking"}


async def test_an_expired_invite_is_audited_once_however_many_look(app: OwnApp) -> None:
    admin, invitee = await app.user(), await app.user()
    org = f"/v1/organizations/{admin.org_id}"
    invite = await (await app.client.post(f"{org}/invites", headers=admin.headers,
                                          json={"email": invitee.email, "role": "user"})).json()
    await app.pool.execute("update org_invites set expires_at = now() - interval '1 second' where id = $1",
                           uuid.UUID(invite["id"]))
    looks = [app.client.get(f"{org}/audit-log", headers=admin.headers) for _ in range(5)]
    looks += [app.client.get(f"{org}/invites", headers=admin.headers) for _ in range(5)]
    looks += [app.client.post(f"/v1/invites/{invite['token']}/accept", headers=invitee.headers) for _ in range(3)]
    looks += [app.client.delete(f"{org}/invites/{invite['id']}", headers=admin.headers) for _ in range(3)]
    statuses = [r.status for r in await asyncio.gather(*looks)]
    assert statuses == [200] * 10 + [409] * 6
    expired = [a for a in await _audit(app, admin, entity="invite") if a["action"] == "expired"]
    assert [(a["entity_id"], a["actor_id"], a["before"]) for a in expired] == [
        (invite["id"], None, {"status": "pending"})]
