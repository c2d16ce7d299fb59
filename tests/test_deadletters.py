"""`happening notifications dead|replay` against the real RabbitMQ and PostgreSQL (worker, relay, SMTP)."""
from __future__ import annotations

import asyncio
import os
import sys
import uuid

from pamqp.commands import Basic

from happening_engine.amqp import connect
from happening_engine.worker.deadletters import dead_report, replay
from loadtests.fixtures import make_notification, make_user, wait_until
from tests.worker_env import Env, all_settled, env  # noqa: F401 (fixture)


async def _dead_queue_depth(e: Env) -> int:
    return (await dead_report(e.pool, e.settings)).queued_messages


async def _fail_one(e: Env, email: str) -> uuid.UUID:
    """A notification the SMTP server refuses every time: failed, and its job in the dead queue."""
    user = await make_user(e.pool, email)
    nid = await make_notification(e.pool, user, "booking_confirmed", recipient=email, message="hello")
    e.mailbox.refusals[str(nid)] = -1
    return nid


async def test_dead_lists_reasons_and_replay_delivers_and_empties_the_dead_queue(env: Env) -> None:
    first, second = await _fail_one(env, "ada@example.test"), await _fail_one(env, "bob@example.test")
    await env.start_worker()
    await env.start_relay()
    await wait_until(lambda: all_settled(env.pool, 2), what="both failed")

    async def both_dead_lettered() -> bool:
        return await _dead_queue_depth(env) == 2
    await wait_until(both_dead_lettered, timeout=10, what="dead letters")
    report = await dead_report(env.pool, env.settings)
    assert {row.id for row in report.rows} == {first, second}
    assert all("451" in row.reason and row.attempts == 3 for row in report.rows)

    # a malformed message in the dead queue is not about any row: replay leaves it there
    connection = await connect(env.settings.amqp, "test-malformed")
    channel = await connection.channel(publisher_confirms=True)
    confirm = await channel.basic_publish(b"not json", exchange=env.topology.dead_exchange, routing_key="")
    assert isinstance(confirm, Basic.Ack)
    await connection.close()

    env.mailbox.refusals.clear()  # the provider is back
    unknown = uuid.uuid4()
    result = await replay(env.pool, env.settings, [first, unknown])
    assert result.replayed == [first] and result.not_failed == [unknown]
    assert (result.messages_removed, result.messages_kept) == (1, 2)

    async def first_sent() -> bool:
        return await env.pool.fetchval("select status from notifications where id = $1", first) == "sent"
    await wait_until(first_sent, what="replayed notification sent")
    assert [m for m in env.mailbox.by_id()] == [str(first)]
    audit = await env.pool.fetchrow("select before, after from audit_log where entity_id = $1 and action = 'replayed'",
                                    first)
    assert audit["before"]["status"] == "failed" and "451" in audit["before"]["error"]

    result = await replay(env.pool, env.settings, None)  # --all
    assert result.replayed == [second] and (result.messages_removed, result.messages_kept) == (1, 1)
    await wait_until(lambda: all_settled(env.pool, 2), what="second sent")
    await asyncio.sleep(0.3)
    report = await dead_report(env.pool, env.settings)
    assert report.rows == [] and report.queued_messages == 1  # only the malformed message
    assert sorted(env.mailbox.by_id()) == sorted([str(first), str(second)])
    assert all(len(mails) == 1 for mails in env.mailbox.by_id().values())


async def test_the_commands_print_reasons_and_refuse_unknown_ids(env: Env) -> None:
    nid = await _fail_one(env, "eve@example.test")
    await env.start_worker()
    await env.start_relay()
    await wait_until(lambda: all_settled(env.pool, 1), what="failed")
    child_env = {**os.environ, "HAPPENING_DATABASE_URL": env.settings.database.url,
                 "HAPPENING_AMQP_URL": env.settings.amqp.url, "HAPPENING_AMQP_PREFIX": env.settings.amqp.prefix,
                 "HAPPENING_NOTIFY_MAX_ATTEMPTS": "3", "HAPPENING_NOTIFY_RETRY_BASE_SECONDS": "0.1"}

    async def run(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "happening.cli", "notifications", *args, env=child_env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    code, out = await run("dead")
    assert code == 0 and str(nid) in out and "451" in out and "1 failed notification(s)" in out
    code, out = await run("replay", str(uuid.uuid4()))
    assert code == 1 and "no failed notification with this id" in out
    code, out = await run("replay")
    assert code == 2 and "give notification ids or --all" in out
