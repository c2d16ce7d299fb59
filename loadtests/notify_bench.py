"""Notification pipeline alone: outbox relay + worker delivering a backlog through RabbitMQ to the
log channel (no SMTP/SMS/push configured, as in a local `happening serve`).

Usage: python -m loadtests.notify_bench [--rows 5000] [--users 1000] [--runs 1] 2>/dev/null
Inserts `rows` notifications (one per booking, users spread round-robin) into a throwaway database,
starts OutboxRelay and NotificationWorker in this process, and times until every row is `sent`.
Prints rows/s and the CPU seconds this process used (user + system, `resource.getrusage`); the
PostgreSQL and RabbitMQ servers' CPU is not counted. Logs go to stderr as JSON (as under `serve`).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import uuid
from dataclasses import replace

import asyncpg

from happening_engine.amqp import Topology, connect, delete_topology
from happening_engine.config import AmqpSettings, NotifySettings, Settings
from happening_engine.logs import configure_logging
from happening_engine.outbox import OutboxRelay
from happening_engine.worker import NotificationWorker

from .fixtures import make_event, make_org, make_users
from .throwaway import environment


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _fill(pool: asyncpg.Pool, rows: int, users: int) -> None:
    ids = await make_users(pool, users)
    org = await make_org(pool, name="bench")
    event = await make_event(pool, org, 100000, name="Bench Night")
    await pool.execute(
        "insert into notifications (user_id, org_id, event_id, type, channel, recipient, message, payload)"
        " select u, $2, $3, 'booking_confirmed', 'email', 'x@bench.test', 'Booked.', $4"
        " from unnest($1::uuid[]) u", [ids[i % len(ids)] for i in range(rows)], org, event, {"seats": 2})


async def run_once(base: Settings, rows: int, users: int) -> dict[str, float]:
    amqp = AmqpSettings(url=base.amqp.url, prefix=f"bench.{uuid.uuid4().hex[:6]}")
    async with environment("notify_bench", base=replace(base, amqp=amqp)) as env:
        settings, pool = env.settings, env.pool
        topology = Topology.for_settings(settings.amqp, settings.notify)
        try:
            await _fill(pool, rows, users)
            relay, worker = OutboxRelay(pool, settings), NotificationWorker(pool, settings)
            cpu, started = _cpu(), time.perf_counter()
            await worker.start()
            await relay.start()
            while await pool.fetchval("select count(*) from notifications where status = 'sent'") < rows:
                await asyncio.sleep(0.05)
            elapsed, cpu_used = time.perf_counter() - started, _cpu() - cpu
            await relay.stop()
            await worker.stop()
            attempts = await pool.fetchval("select sum(attempts) from notifications")
            return {"rows": rows, "seconds": round(elapsed, 2), "rows_per_s": round(rows / elapsed),
                    "cpu_s": round(cpu_used, 2), "cpu_ms_per_row": round(1000 * cpu_used / rows, 3),
                    "attempts": attempts}
        finally:
            connection = await connect(settings.amqp, "bench-cleanup")
            channel = await connection.channel()
            await delete_topology(channel, topology)
            await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    configure_logging("json")
    settings = Settings(notify=NotifySettings())  # nothing configured: the log channel delivers
    for _ in range(args.runs):
        print(json.dumps(await run_once(settings, args.rows, args.users)), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
