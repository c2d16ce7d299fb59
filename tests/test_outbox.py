"""The outbox relay against real PostgreSQL and RabbitMQ: NOTIFY wake-up, durable confirmed jobs,
order per user across several relays, and no loss or double send when connections are cut."""
from __future__ import annotations

import asyncio
import json
import random
import shutil
import uuid
from collections import defaultdict
from typing import Any

import asyncpg
import pytest

from happening_engine.amqp import connect
from happening_engine.outbox import OutboxRelay
from loadtests.fixtures import make_notification, make_user, wait_until
from tests.worker_env import Env, env  # noqa: F401 (env is a fixture)


async def _drain_queue(e: Env) -> list[Any]:
    connection = await connect(e.settings.amqp, "test-reader")
    channel = await connection.channel()
    messages = []
    while (message := await channel.basic_get(e.topology.queue, no_ack=True)).body:
        messages.append(message)
    await connection.close()
    return messages


async def _undispatched(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("select count(*) from notifications where dispatched_at is null")  # type: ignore[no-any-return]


async def test_relay_wakes_on_notify_and_publishes_durable_jobs(env: Env) -> None:
    user = await make_user(env.pool)
    first = await make_notification(env.pool, user, "booking_confirmed", recipient="a@example.test", message="one")
    relay = OutboxRelay(env.pool, env.settings)
    relay.poll_seconds = 60.0  # only NOTIFY can wake it within the test
    await relay.start()
    env.started.append(relay)
    await wait_until(lambda: _none_left(env.pool), timeout=10, what="first row dispatched")
    await asyncio.sleep(0.3)  # the relay is idle now, waiting for NOTIFY
    second = await make_notification(env.pool, user, "booking_cancelled", recipient="a@example.test", message="two")
    await wait_until(lambda: _none_left(env.pool), timeout=3, what="second row dispatched on NOTIFY")

    messages = await _drain_queue(env)
    assert [m.header.properties.message_id for m in messages] == [str(first), str(second)]
    for message, kind in zip(messages, ("booking_confirmed", "booking_cancelled"), strict=True):
        props = message.header.properties
        assert props.delivery_mode == 2 and props.content_type == "application/json"
        assert props.message_type == kind
        (job,) = json.loads(message.body)["jobs"]
        assert job["id"] == props.message_id and job["user_id"] == str(user) and job["type"] == kind
    rows = await env.pool.fetch("select status, dispatched_at from notifications")
    assert all(r["status"] == "pending" and r["dispatched_at"] is not None for r in rows)


async def _none_left(pool: asyncpg.Pool) -> bool:
    return await _undispatched(pool) == 0


async def test_several_relays_keep_order_per_user(env: Env) -> None:
    users = [await make_user(env.pool) for _ in range(6)]
    for _ in range(10):  # 10 transactions of 60 rows, users interleaved
        async with env.pool.acquire() as conn, conn.transaction():
            for i in range(60):
                user = users[i % len(users)]
                await make_notification(conn, user, "event_updated", recipient="x@example.test", message=str(i))
    for _ in range(3):
        relay = await env.start_relay()
        relay.batch_size = 25  # small batches, so the relays interleave
    await wait_until(lambda: _none_left(env.pool), timeout=20, what="all dispatched")
    jobs = [job["id"] for message in await _drain_queue(env) for job in json.loads(message.body)["jobs"]]
    seq = {str(r["id"]): (r["user_id"], r["seq"])
           for r in await env.pool.fetch("select id, user_id, seq from notifications")}
    assert sorted(jobs) == sorted(seq)  # each once
    per_user: dict[Any, list[int]] = defaultdict(list)
    for job in jobs:
        user, n = seq[job]
        per_user[user].append(n)
    assert len(per_user) == 6
    for order in per_user.values():
        assert order == sorted(order)


async def _close_connections(name: str) -> int:
    """Close, from the broker side, every connection whose client-provided name is `name`."""
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "list_connections", "pid", "client_properties", "-q", "--no-table-headers",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    forms = (f'"connection_name","{name}"', f'"connection_name","longstr","{name}"')
    pids = [line.split("\t", 1)[0] for line in out.decode().splitlines() if any(f in line for f in forms)]
    for pid in pids:
        closer = await asyncio.create_subprocess_exec(
            "rabbitmqctl", "close_connection", pid, "test: broker outage",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await closer.communicate()
        assert closer.returncode == 0, err.decode()
    return len(pids)


class CutMidBatchRelay(OutboxRelay):
    """A relay whose connection the broker closes in the middle of a batch: after `cut_after`
    publishes of that batch went out, the rest wait until `rabbitmqctl close_connection` is done."""

    def __init__(self, *args: Any, cut_after: int, cut_in_batch: int) -> None:
        super().__init__(*args)
        self.cut_after, self.cut_in_batch = cut_after, cut_in_batch
        self.batches_seen = 0
        self.published_in_batch = 0
        self.cut_done: asyncio.Event | None = None
        self.cut_count = 0

    async def _dispatch_batch(self, channel: Any) -> int:
        self.batches_seen += 1
        self.published_in_batch = 0
        return await super()._dispatch_batch(channel)

    async def _publish(self, channel: Any, row: list[asyncpg.Record]) -> object:
        self.published_in_batch += 1
        if self.batches_seen == self.cut_in_batch and self.published_in_batch > self.cut_after:
            if self.cut_done is None:  # the first publish past the mark cuts; the rest wait for it
                self.cut_done = asyncio.Event()
                self.cut_count = await _close_connections(f"{self.settings.amqp.prefix}.{self.connection_name}")
                await asyncio.wait([channel.closing], timeout=10)
                self.cut_done.set()
            await self.cut_done.wait()
        return await super()._publish(channel, row)


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl to cut connections")
async def test_cut_connections_mid_stream_lose_and_duplicate_nothing(env: Env) -> None:
    """1,000 notifications streamed in; the broker closes the relay's connection in the middle of
    a batch, then the worker's, then the relay's again: every row ends `sent`, each mail arrives
    exactly once, and each user's mails arrive in the order the rows were written."""
    users = [await make_user(env.pool, f"user{i}@example.test") for i in range(20)]
    rng = random.Random(7)

    async def insert(count: int, label: str) -> None:
        async with env.pool.acquire() as conn, conn.transaction():
            for _ in range(count):
                user = rng.choice(users)
                await make_notification(conn, user, rng.choice(["booking_confirmed", "event_updated"]),
                                        recipient=f"user{users.index(user)}@example.test", message=label)

    await insert(300, "backlog")
    worker = await env.start_worker()
    relay = CutMidBatchRelay(env.pool, env.settings, cut_after=4, cut_in_batch=2)
    relay.batch_size, relay.jobs_per_message = 100, 10  # the cut comes after 40 rows of the batch
    await relay.start()
    env.started.append(relay)
    prefix = env.settings.amqp.prefix
    cuts = {3: f"{prefix}.{worker.connection_name}", 9: f"{prefix}.{relay.connection_name}"}
    closed = 0
    for chunk in range(14):
        await insert(50, f"chunk {chunk}")
        if chunk in cuts:
            closed += await _close_connections(cuts[chunk])
        await asyncio.sleep(0.02)
    assert relay.cut_count == 1 and closed == 2

    async def all_sent() -> bool:
        return await env.pool.fetchval("select count(*) from notifications where status = 'sent'") == 1000  # type: ignore[no-any-return]

    await wait_until(all_sent, timeout=90, what="1000 sent")
    await asyncio.sleep(1.0)  # late duplicates, if any, would arrive now
    mails = env.mailbox.by_id()
    rows = await env.pool.fetch("select id, user_id, recipient, seq, dispatched_at from notifications")
    assert len(rows) == 1000 and all(r["dispatched_at"] is not None for r in rows)
    assert {str(r["id"]) for r in rows} == set(mails)
    assert [nid for nid, copies in mails.items() if len(copies) != 1] == []
    seq = {str(r["id"]): (r["user_id"], r["seq"], r["recipient"]) for r in rows}
    per_user: dict[uuid.UUID, list[int]] = defaultdict(list)
    for rcpts, message in env.mailbox.mails:
        user, n, recipient = seq[str(message["X-Happening-Notification-Id"])]
        assert rcpts == [recipient]
        per_user[user].append(n)
    for order in per_user.values():
        assert order == sorted(order)


async def _rabbitmqctl(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec("rabbitmqctl", *args, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl to restart the broker")
async def test_a_broker_restart_loses_no_notification_and_sends_none_twice(env: Env) -> None:
    """docs/contract.md §4 invariant 5: RabbitMQ stops in the middle of 1,000 deliveries (jobs queued, in
    flight, not relayed yet), 200 more rows are written while it is down, then it starts again:
    every row still ends `sent`, and each mail arrives once."""
    users = [await make_user(env.pool, f"restart{i}@example.test") for i in range(10)]

    async def insert(count: int) -> None:
        async with env.pool.acquire() as conn, conn.transaction():
            for i in range(count):
                await make_notification(conn, users[i % 10], "booking_confirmed",
                                        recipient=f"restart{i % 10}@example.test", message=str(i))

    async def sent() -> int:
        return await env.pool.fetchval("select count(*) from notifications where status = 'sent'")  # type: ignore[no-any-return]

    await insert(1000)
    await env.start_worker()
    await env.start_relay()
    while await sent() < 40:
        await asyncio.sleep(0.01)
    await _rabbitmqctl("stop_app")  # the whole broker goes away, with its connections
    try:
        assert await sent() < 1000  # the restart really happens mid-stream
        await insert(200)
    finally:
        await _rabbitmqctl("start_app")

    async def all_sent() -> bool:
        return await sent() == 1200

    await wait_until(all_sent, timeout=120, what="1200 sent after the restart")
    await asyncio.sleep(1.0)  # late duplicates, if any, would arrive now
    mails = env.mailbox.by_id()
    assert len(mails) == 1200 and [nid for nid, copies in mails.items() if len(copies) != 1] == []
