"""The notification worker against real RabbitMQ, PostgreSQL and a local SMTP server (aiosmtpd).

Each test gets its own database, AMQP name prefix and SMTP server, and deletes its queues at the end
(the `env` fixture of tests/worker_env.py).
"""
from __future__ import annotations

import asyncio
import datetime
import json
import uuid
from typing import Any

import asyncpg
from aiohttp import web
from pamqp.commands import Basic
from prometheus_client import REGISTRY

from happening_engine.amqp import connect, declare_topology
from happening_engine.worker import NotificationWorker
from happening_engine.worker.wording import wording
from loadtests.fixtures import make_event, make_notification, make_org, make_user, wait_until
from tests.conftest import serve_on_free_port
from tests.worker_env import Env, all_settled, env  # noqa: F401 (env is a fixture)

TYPES = ("booking_confirmed", "booking_waitlisted", "booking_cancelled", "waitlist_promoted",
         "event_updated", "org_invite")


async def club_event(pool: asyncpg.Pool, name: str = "Jazz Night") -> tuple[uuid.UUID, uuid.UUID]:
    """(org, event): an event of the Blue Note Club on Fri 14 Mar 2031 at 19:30, which its mails show."""
    org = await make_org(pool, name="Blue Note Club")
    start = datetime.datetime(2031, 3, 14, 19, 30, tzinfo=datetime.UTC)
    return org, await make_event(pool, org, name=name, starts_at=start, duration=datetime.timedelta(hours=3.5))


def _metric(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ---------------------------------------------------------------------------------------------- tests


async def test_every_type_reaches_smtp_with_recipient_and_content(env: Env) -> None:
    user = await make_user(env.pool, "ada@example.test")
    org, event = await club_event(env.pool, "Jazz Night")
    payloads = {
        "booking_confirmed": {"seats": 3},
        "booking_waitlisted": {"seats": 2, "position": 4, "waiting_number": 17},
        "booking_cancelled": {"seats": 3, "reason": "cancelled by you"},
        "waitlist_promoted": {"seats": 2},
        "event_updated": {"changes": {"starts_at": "2031-03-15T20:00:00+00:00"}},
        "org_invite": {"org_name": "Blue Note Club", "role": "organizer", "token": "tok-123",
                       "invite_url": "http://127.0.0.1:8080/v1/invites/tok-123/accept"},
    }
    ids = {}
    for kind in TYPES:
        ids[kind] = await make_notification(env.pool, user if kind != "org_invite" else None, kind,
                                            recipient="ada@example.test",
                                            event=event if kind != "org_invite" else None,
                                            org=org, message=f"msg-{kind}", payload=payloads[kind])
    await env.start_worker()
    await env.start_relay()
    await wait_until(lambda: all_settled(env.pool, len(TYPES)), what="all notifications settled")

    mails = env.mailbox.by_id()
    expected = {
        "booking_confirmed": ["Booking confirmed", "Jazz Night", "Fri 14 Mar 2031, 19:30", "3 seats"],
        "booking_waitlisted": ["waitlist", "Jazz Night", "position 4", "waiting number 17", "2 seats"],
        "booking_cancelled": ["Booking cancelled", "Jazz Night", "3 seats", "cancelled by you"],
        "waitlist_promoted": ["confirmed", "Jazz Night", "2 seats"],
        "event_updated": ["Event updated", "Jazz Night", "starts at: Sat 15 Mar 2031, 20:00"],
        "org_invite": ["invited", "Blue Note Club", "organizer", "tok-123", "/v1/invites/tok-123/accept"],
    }
    for kind, nid in ids.items():
        assert len(mails[str(nid)]) == 1, kind
        message = mails[str(nid)][0]
        assert message["To"] == "ada@example.test"
        assert message["Message-ID"] == f"<{nid}@happening>"
        content = message["Subject"] + "\n" + message.get_content()
        assert f"msg-{kind}" in content
        for fragment in expected[kind]:
            assert fragment in content, (kind, fragment, content)
    assert [r for rcpts, _ in env.mailbox.mails for r in rcpts] == ["ada@example.test"] * len(TYPES)
    rows = await env.pool.fetch("select status, attempts, sent_at, delivered_via, last_error from notifications")
    assert all(r["status"] == "sent" and r["attempts"] == 1 and r["sent_at"] and r["delivered_via"] == "email"
               and r["last_error"] is None for r in rows)
    audit = {r["entity_id"]: (r["action"], r["after"]) for r in await env.pool.fetch(
        "select entity_id, action, after from audit_log where entity = 'notification'")}
    assert audit == {nid: ("sent", {"status": "sent", "channel": "email", "type": kind, "attempts": 1,
                                    "user_id": str(user) if kind != "org_invite" else None})
                     for kind, nid in ids.items()}


async def test_a_users_notification_goes_to_their_address_at_send_time(env: Env) -> None:
    """The booking path names no recipient: the mail goes to the user's email as it is when sent."""
    user = await make_user(env.pool, "old@example.test")
    _, event = await club_event(env.pool)
    nid = await make_notification(env.pool, user, "booking_confirmed", recipient=None, event=event, message="yours")
    await env.pool.execute("update users set email = 'new@example.test' where id = $1", user)
    await env.start_worker()
    await env.start_relay()
    await wait_until(lambda: all_settled(env.pool, 1), what="settled")
    assert [m["To"] for m in env.mailbox.by_id()[str(nid)]] == ["new@example.test"]
    assert [r for rcpts, _ in env.mailbox.mails for r in rcpts] == ["new@example.test"]


async def test_refused_twice_then_accepted_is_sent_once(env: Env) -> None:
    user = await make_user(env.pool)
    nid = await make_notification(env.pool, user, "booking_confirmed", recipient="bob@example.test", message="hi")
    env.mailbox.refusals[str(nid)] = 2
    labels = {"type": "booking_confirmed", "channel": "email"}
    retries, sent = _metric("happening_notification_retries_total", labels), _metric(
        "happening_notifications_total", {**labels, "status": "sent"})
    await env.start_worker()
    await env.start_relay()
    await wait_until(lambda: all_settled(env.pool, 1), what="settled")
    row = await env.pool.fetchrow("select * from notifications where id = $1", nid)
    assert row["status"] == "sent" and row["attempts"] == 3 and row["last_error"] is None
    assert _metric("happening_notification_retries_total", labels) == retries + 2
    assert _metric("happening_notifications_total", {**labels, "status": "sent"}) == sent + 1
    assert _metric("happening_outbox_lag_seconds", {}) == 0.0
    assert env.mailbox.refused[str(nid)] == 2
    await asyncio.sleep(0.5)  # nothing else arrives later
    assert len(env.mailbox.by_id()[str(nid)]) == 1


async def _dead_letters(env: Env) -> list[Any]:
    connection = await connect(env.settings.amqp, "test-dead")
    channel = await connection.channel()
    found = []
    while (message := await channel.basic_get(env.topology.dead_queue, no_ack=True)).body:
        found.append(message)
    await connection.close()
    return found


async def _wait_for_dead_letters(env: Env) -> list[Any]:
    """The dead queue's messages, once there is at least one (they arrive after the row is settled)."""
    dead: list[Any] = []

    async def in_dead_queue() -> bool:
        dead.extend(await _dead_letters(env))
        return bool(dead)

    await wait_until(in_dead_queue, timeout=10, what="dead letter")
    return dead


async def _queued(env: Env) -> int:
    """Messages waiting in the notifications queue."""
    connection = await connect(env.settings.amqp, "test-check")
    channel = await connection.channel()
    ok = await channel.queue_declare(env.topology.queue, passive=True)
    await connection.close()
    return ok.message_count  # type: ignore[no-any-return]


async def test_always_refused_ends_failed_and_dead_lettered(env: Env) -> None:
    user = await make_user(env.pool)
    nid = await make_notification(env.pool, user, "booking_cancelled", recipient="eve@example.test", message="bye")
    env.mailbox.refusals[str(nid)] = -1
    await env.start_worker()
    await env.start_relay()
    await wait_until(lambda: all_settled(env.pool, 1), what="settled")
    row = await env.pool.fetchrow("select * from notifications where id = $1", nid)
    assert row["status"] == "failed" and row["attempts"] == 3 and row["sent_at"] is None
    assert "451" in row["last_error"]
    audit = await env.pool.fetchrow("select before, after, actor_id from audit_log where entity = 'notification'"
                                    " and entity_id = $1", nid)
    assert audit["before"] == {"status": "pending"} and audit["actor_id"] is None
    assert audit["after"] == {"status": "failed", "error": row["last_error"], "type": "booking_cancelled",
                              "attempts": 3, "user_id": str(user)}
    dead = await _wait_for_dead_letters(env)
    assert [m.header.properties.message_id for m in dead] == [str(nid)]
    assert env.mailbox.mails == [] and env.mailbox.refused[str(nid)] == 3


async def test_jobs_of_one_message_retry_and_dead_letter_on_their_own(env: Env) -> None:
    """Four rows relayed as one message: two are sent at once, one is refused twice and then sent,
    one is refused for good and dead-lettered alone; nothing is sent twice, the queue ends empty."""
    user = await make_user(env.pool)
    ids = []
    async with env.pool.acquire() as conn, conn.transaction():  # one relay batch, one message
        for i in range(4):
            ids.append(await make_notification(conn, user, "booking_confirmed", recipient=f"r{i}@example.test",
                                               message=str(i)))
    env.mailbox.refusals[str(ids[1])] = 2
    env.mailbox.refusals[str(ids[2])] = -1
    await env.start_worker()
    relay = await env.start_relay()
    assert relay.jobs_per_message >= 4
    await wait_until(lambda: all_settled(env.pool, 4), what="settled")
    statuses = dict(await env.pool.fetch("select id, status from notifications"))
    assert [statuses[i] for i in ids] == ["sent", "sent", "failed", "sent"]
    mails = env.mailbox.by_id()
    assert sorted(mails) == sorted(str(i) for i in (ids[0], ids[1], ids[3]))
    assert all(len(copies) == 1 for copies in mails.values())
    dead = await _wait_for_dead_letters(env)
    assert [m.header.properties.message_id for m in dead] == [str(ids[2])]
    assert [job["id"] for job in json.loads(dead[0].body)["jobs"]] == [str(ids[2])]
    await asyncio.sleep(0.5)
    assert await _queued(env) == 0


async def test_permanent_refusal_fails_without_retrying(env: Env) -> None:
    env.mailbox.refuse_code = "550 5.1.1 no such user"
    user = await make_user(env.pool)
    nid = await make_notification(env.pool, user, "booking_confirmed", recipient="nobody@example.test", message="x")
    env.mailbox.refusals[str(nid)] = -1
    await env.start_worker()
    await env.start_relay()
    await wait_until(lambda: all_settled(env.pool, 1), what="settled")
    row = await env.pool.fetchrow("select * from notifications where id = $1", nid)
    assert row["status"] == "failed" and row["attempts"] == 1 and "550" in row["last_error"]


async def test_duplicate_jobs_send_once(env: Env) -> None:
    """The same job published three times (a relay retry, a redelivery) yields one mail."""
    user = await make_user(env.pool)
    nid = await make_notification(env.pool, user, "waitlist_promoted", recipient="dup@example.test", message="x")
    await env.pool.execute("update notifications set dispatched_at = now()")
    connection = await connect(env.settings.amqp, "test-publisher")
    channel = await connection.channel()
    await declare_topology(channel, env.topology)
    body = json.dumps({"id": str(nid), "user_id": str(user)}).encode()
    for _ in range(3):
        await channel.basic_publish(body, exchange=env.topology.exchange, routing_key="email.x",
                                    properties=Basic.Properties(message_id=str(nid), delivery_mode=2))
    await env.start_worker()
    await wait_until(lambda: all_settled(env.pool, 1), what="settled")
    await asyncio.sleep(0.5)
    await connection.close()
    assert await _queued(env) == 0
    assert len(env.mailbox.by_id()[str(nid)]) == 1
    assert await env.pool.fetchval("select attempts from notifications where id = $1", nid) == 1


async def test_job_held_by_a_dead_delivery_is_sent_after_its_lease(env: Env) -> None:
    """A worker claimed the row and died before sending: the redelivered job waits in the delay
    queue while the claim holds, then sends once the lease ran out."""
    user = await make_user(env.pool)
    nid = await make_notification(env.pool, user, "booking_waitlisted", recipient="late@example.test", message="x")
    await env.pool.execute("update notifications set attempts = 1, claimed_until = now() + interval '1 second'")
    await env.start_worker()
    await env.start_relay()
    await wait_until(lambda: all_settled(env.pool, 1), what="settled")
    row = await env.pool.fetchrow("select * from notifications where id = $1", nid)
    assert row["status"] == "sent" and row["attempts"] == 2 and row["claimed_until"] is None
    assert row["sent_at"] - row["created_at"] >= datetime.timedelta(seconds=1)
    assert len(env.mailbox.by_id()[str(nid)]) == 1


async def test_rows_without_provider_go_through_rabbitmq_to_the_log_channel(env: Env) -> None:
    user = await make_user(env.pool)
    sms = await make_notification(env.pool, user, "booking_confirmed", recipient="+15550100", channel="sms",
                                  message="x")
    mail = await make_notification(env.pool, user, "booking_confirmed", recipient="a@example.test", message="y")
    local = env.with_notify(smtp_url=None)  # a local `happening serve`: nothing configured
    await env.start_worker(local)
    await env.start_relay(local)
    await wait_until(lambda: all_settled(env.pool, 2), what="settled")
    rows = await env.pool.fetch("select id, status, delivered_via, dispatched_at from notifications")
    assert {r["id"]: (r["status"], r["delivered_via"]) for r in rows} == {sms: ("sent", "log"), mail: ("sent", "log")}
    assert all(r["dispatched_at"] is not None for r in rows)
    assert env.mailbox.mails == []


async def test_sms_and_push_go_to_http_providers_with_bearer_token(env: Env) -> None:
    received: list[tuple[str, dict[str, str], dict[str, Any]]] = []
    fail_once: set[str] = set()

    async def provider(request: web.Request) -> web.Response:
        body = await request.json()
        if body["id"] not in fail_once:  # the first call of each job answers 503: retried
            fail_once.add(body["id"])
            return web.Response(status=503, text="busy")
        received.append((request.path, dict(request.headers), body))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/sms", provider)
    app.router.add_post("/push", provider)
    runner, port = await serve_on_free_port(app)
    try:
        user = await make_user(env.pool)
        _, event = await club_event(env.pool, "Hack Day")
        sms = await make_notification(env.pool, user, "waitlist_promoted", recipient="+15550100", channel="sms",
                                      event=event, message="You're in", payload={"seats": 2})
        push = await make_notification(env.pool, user, "booking_waitlisted", recipient="device-token-1",
                                       channel="push", event=event, message="Waiting", payload={"position": 1})
        settings = env.with_notify(sms_url=f"http://127.0.0.1:{port}/sms", sms_token="sms-secret",
                                   push_url=f"http://127.0.0.1:{port}/push", push_token="push-secret")
        await env.start_worker(settings)
        await env.start_relay(settings)
        await wait_until(lambda: all_settled(env.pool, 2), what="settled")
    finally:
        await runner.cleanup()
    by_path = {path: (headers, body) for path, headers, body in received}
    assert len(received) == 2
    assert by_path["/sms"][0]["Authorization"] == "Bearer sms-secret"
    assert by_path["/sms"][0]["Idempotency-Key"] == str(sms)
    assert by_path["/sms"][1]["to"] == "+15550100" and "Hack Day" in by_path["/sms"][1]["subject"]
    assert by_path["/push"][0]["Authorization"] == "Bearer push-secret"
    assert by_path["/push"][1]["to"] == "device-token-1" and by_path["/push"][1]["id"] == str(push)
    rows = await env.pool.fetch("select status, attempts, delivered_via from notifications order by channel")
    assert [(r["status"], r["attempts"], r["delivered_via"]) for r in rows] == [("sent", 2, "push"), ("sent", 2, "sms")]


def test_wording_reads_the_engine_payload() -> None:
    payload = {"event_name": "Hack Day", "starts_at": "2031-05-01T09:00:00+00:00", "seats": 1,
               "waiting_number": None, "position": None, "changed": ["starts_at", "total_slots"],
               "reason": "event_cancelled"}
    updated = wording({"type": "event_updated", "message": "", "payload": payload})
    assert updated.subject == "Event updated: Hack Day"
    assert "Thu 01 May 2031, 09:00 UTC" in updated.text and "starts at, total slots" in updated.text
    cancelled = wording({"type": "booking_cancelled", "message": "", "payload": payload})
    assert "1 seat)" in cancelled.text and "Reason: event cancelled." in cancelled.text


def test_wording_falls_back_to_message_when_payload_is_empty() -> None:
    for kind in TYPES:
        worded = wording({"type": kind, "message": "Plain words.", "payload": {}})
        assert worded.subject and "Plain words." in worded.text and worded.short


async def test_http_provider_4xx_is_permanent(env: Env) -> None:
    async def provider(request: web.Request) -> web.Response:
        return web.Response(status=400, text="bad number")

    app = web.Application()
    app.router.add_post("/sms", provider)
    runner, port = await serve_on_free_port(app)
    try:
        user = await make_user(env.pool)
        nid = await make_notification(env.pool, user, "booking_confirmed", recipient="+1", channel="sms", message="x")
        settings = env.with_notify(sms_url=f"http://127.0.0.1:{port}/sms")
        await env.start_worker(settings)
        await env.start_relay(settings)
        await wait_until(lambda: all_settled(env.pool, 1), what="settled")
    finally:
        await runner.cleanup()
    row = await env.pool.fetchrow("select * from notifications where id = $1", nid)
    assert row["status"] == "failed" and row["attempts"] == 1 and "HTTP 400" in row["last_error"]



class _FakeChannel:
    """Records the ack and nack frames written, in order."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, int, bool]] = []

    async def basic_ack(self, tag: int, multiple: bool = False, wait: bool = True) -> None:
        self.frames.append(("ack", tag, multiple))

    async def basic_nack(self, tag: int, requeue: bool = True, wait: bool = True) -> None:
        self.frames.append(("nack", tag, requeue))


async def test_acks_coalesce_the_oldest_stretch_and_keep_nacks_in_order() -> None:
    from happening_engine.worker.acks import Acks

    channel = _FakeChannel()
    acks = Acks(channel)  # type: ignore[arg-type]
    for tag in range(1, 9):
        acks.delivered(tag)
    # asked for in one turn of the loop: acks 1-3, nack 4, acks 5, 6 and 8 (7 still in hand)
    await asyncio.gather(acks.ack(2), acks.ack(1), acks.ack(3), acks.nack(4, requeue=False),
                         acks.ack(6), acks.ack(5), acks.ack(8))
    assert channel.frames == [("ack", 3, True), ("nack", 4, False), ("ack", 6, True), ("ack", 8, False)]
    channel.frames.clear()
    await acks.ack(7)  # 7 is now the oldest unsettled: a multiple ack covers nothing else
    assert channel.frames == [("ack", 7, True)]


class CountingWorker(NotificationWorker):
    """Counts the claim and record round trips and their sizes."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.claim_sizes: list[int] = []
        self.record_sizes: list[int] = []

    async def _claim_many(self, ids: list[uuid.UUID]) -> list[Any]:
        self.claim_sizes.append(len(ids))
        return await super()._claim_many(ids)

    async def _record_many(self, outcomes: list[Any]) -> list[None]:
        self.record_sizes.append(len(outcomes))
        return await super()._record_many(outcomes)


async def test_a_burst_is_claimed_and_recorded_in_batches(env: Env) -> None:
    users = [await make_user(env.pool) for _ in range(100)]
    async with env.pool.acquire() as conn:
        await conn.execute(
            "insert into notifications (user_id, type, channel, recipient, message)"
            " select u, 'booking_confirmed', 'log', 'x@example.test', 'hi' from unnest($1::uuid[]) u", users)
    worker = CountingWorker(env.pool, env.settings)
    await worker.start()
    env.started.append(worker)
    await env.start_relay()
    await wait_until(lambda: all_settled(env.pool, 100), what="settled")
    assert sum(worker.claim_sizes) == 100 and sum(worker.record_sizes) == 100
    assert max(worker.claim_sizes) > 1 and len(worker.claim_sizes) < 50
    assert max(worker.record_sizes) <= worker.rows_per_statement
    assert await env.pool.fetchval("select count(*) from audit_log where entity = 'notification'"
                                   " and action = 'sent'") == 100
