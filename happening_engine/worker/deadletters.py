"""Dead-lettered notifications: list them with their reasons (PostgreSQL keeps those, the dead queue the
messages), and replay them: the rows go back to `pending` for the relay and worker as any new row, and
their dead messages are removed after (docs/architecture.md)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson
from aiormq.abc import AbstractChannel

from ..amqp import Topology, connect, declare_topology
from ..config import Settings
from ..constants import OUTBOX_CHANNEL

DEAD_ROWS = """
select id, type, channel, coalesce(recipient, '') as recipient, attempts, coalesce(last_error, '') as reason,
       updated_at
from notifications where status = 'failed' order by updated_at, id limit $1
"""
REPLAY = """
with replayed as (
    update notifications
    set status = 'pending', attempts = 0, claimed_until = null, dispatched_at = null, last_error = null
    where status = 'failed' and ($1::uuid[] is null or id = any($1::uuid[]))
    returning id, org_id, type, user_id
), before as (
    select id, last_error from notifications where status = 'failed' and ($1::uuid[] is null or id = any($1::uuid[]))
)
insert into audit_log (org_id, actor_id, entity, entity_id, action, before, after)
select r.org_id, null, 'notification', r.id, 'replayed',
       jsonb_build_object('status', 'failed', 'error', b.last_error),
       jsonb_build_object('status', 'pending', 'type', r.type, 'user_id', r.user_id::text)
from replayed r join before b using (id)
returning entity_id
"""
STATUSES = "select id, status from notifications where id = any($1::uuid[])"


@dataclass(frozen=True)
class DeadNotification:
    """A notification the worker gave up on, and why."""

    id: uuid.UUID
    type: str
    channel: str
    recipient: str
    attempts: int
    reason: str
    failed_at: datetime


@dataclass(frozen=True)
class DeadReport:
    """What `happening notifications dead` shows: the failed rows and the dead queue's depth."""

    rows: list[DeadNotification]
    queued_messages: int  # messages in the dead queue (one per given-up job, plus malformed ones)


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did: rows sent round again, ids asked for that were not failed, queue cleanup."""

    replayed: list[uuid.UUID]
    not_failed: list[uuid.UUID]
    messages_removed: int
    messages_kept: int


async def dead_report(pool: asyncpg.Pool, settings: Settings, limit: int = 1000) -> DeadReport:
    rows = [DeadNotification(r["id"], r["type"], r["channel"], r["recipient"], r["attempts"], r["reason"],
                             r["updated_at"]) for r in await pool.fetch(DEAD_ROWS, limit)]
    topology = Topology.for_settings(settings.amqp, settings.notify)
    connection = await connect(settings.amqp, "ops-dead")
    try:
        channel = await connection.channel()
        await declare_topology(channel, topology)  # a fresh broker (or prefix) has no queue yet
        ok = await channel.queue_declare(topology.dead_queue, passive=True)
    finally:
        await connection.close()
    return DeadReport(rows, int(ok.message_count or 0))


async def replay(pool: asyncpg.Pool, settings: Settings, ids: list[uuid.UUID] | None) -> ReplayResult:
    """Send the failed rows `ids` (None: every failed row) round again; drop their dead messages."""
    topology = Topology.for_settings(settings.amqp, settings.notify)
    connection = await connect(settings.amqp, "ops-replay")
    try:
        channel = await connection.channel()
        await declare_topology(channel, topology)
        held = await _take_dead_messages(channel, topology.dead_queue)
        async with pool.acquire() as conn, conn.transaction():
            replayed = [r["entity_id"] for r in await conn.fetch(REPLAY, ids)]
            await conn.execute("select pg_notify($1, '')", OUTBOX_CHANNEL)  # wake the relay now
        removed = await _ack_or_requeue_held(pool, channel, held, set(replayed))
    finally:
        await connection.close()  # any message still held goes back to the dead queue
    asked = ids or []
    not_failed = [i for i in asked if i not in set(replayed)]
    return ReplayResult(replayed, not_failed, removed, len(held) - removed)


async def _take_dead_messages(channel: AbstractChannel, queue: str) -> list[tuple[int, list[uuid.UUID] | None]]:
    """Hold every message now in the dead queue (unacked): (delivery tag, its job ids or None)."""
    ok = await channel.queue_declare(queue, passive=True)
    held = []
    for _ in range(int(ok.message_count or 0)):
        message = await channel.basic_get(queue, no_ack=False)
        if message.delivery_tag is None:  # emptied meanwhile
            break
        held.append((message.delivery_tag, _job_ids(message.body)))
    return held


async def _ack_or_requeue_held(pool: asyncpg.Pool, channel: AbstractChannel,
                                held: list[tuple[int, list[uuid.UUID] | None]], replayed: set[uuid.UUID]) -> int:
    """Ack the held messages whose every job was replayed or is no longer failed; requeue the rest."""
    ids = list({i for _, jobs in held for i in jobs or ()})
    statuses: dict[uuid.UUID, str] = {r["id"]: r["status"] for r in await pool.fetch(STATUSES, ids)} if ids else {}
    removed = 0
    for tag, jobs in held:
        done = jobs is not None and all(i in replayed or statuses.get(i) not in ("failed", None) for i in jobs)
        if done:
            await channel.basic_ack(tag)
            removed += 1
        else:
            await channel.basic_nack(tag, requeue=True)
    return removed


def _job_ids(body: bytes) -> list[uuid.UUID] | None:
    """The notification ids a dead message carries (the worker's `{"jobs": [...]}`), None if malformed."""
    try:
        data = orjson.loads(body)
        jobs = data["jobs"] if "jobs" in data else [data]
        return [uuid.UUID(job["id"]) for job in jobs] or None
    except (ValueError, TypeError, KeyError):
        return None


async def dead_main(settings: Settings, limit: int) -> int:
    """`happening notifications dead`: one line per failed notification with its reason."""
    from ..db import create_pool

    pool = await create_pool(settings.database)
    try:
        report = await dead_report(pool, settings, limit)
    finally:
        await pool.close()
    for row in report.rows:
        print(f"{row.id}  {row.failed_at:%Y-%m-%d %H:%M:%S%z}  {row.type}  {row.channel}  attempts={row.attempts}"
              f"  reason: {row.reason or '(none recorded)'}")
    print(f"{len(report.rows)} failed notification(s); {report.queued_messages} message(s) in the dead queue")
    if report.rows:
        print("replay: happening notifications replay ID... | --all")
    return 0


async def replay_main(settings: Settings, ids: list[str], replay_all: bool) -> int:
    """`happening notifications replay ID...|--all`: exit 1 if an id asked for was not failed."""
    from ..db import create_pool

    wanted = None if replay_all else [uuid.UUID(i) for i in ids]
    pool = await create_pool(settings.database)
    try:
        result = await replay(pool, settings, wanted)
    finally:
        await pool.close()
    for nid in result.replayed:
        print(f"replayed {nid}")
    for nid in result.not_failed:
        print(f"not replayed {nid}: no failed notification with this id")
    print(f"{len(result.replayed)} replayed; dead queue: {result.messages_removed} message(s) removed,"
          f" {result.messages_kept} kept")
    return 1 if result.not_failed else 0
