"""The outbox relay: publishes undispatched `notifications` rows to RabbitMQ, marking a row dispatched only
once the broker confirmed it, in the transaction holding its lock; a broker outage therefore loses
nothing, and each user's rows go out in order (docs/architecture.md)."""
from __future__ import annotations

import asyncio
from typing import cast

import aiormq
import asyncpg
import orjson
import structlog
from aiormq.abc import AbstractConnection
from pamqp.commands import Basic
from prometheus_client import Counter, Gauge

from .amqp import Backoff, Topology, declare_topology, keep_connected, stop_task
from .config import Settings
from .constants import OUTBOX_CHANNEL

log = structlog.get_logger(__name__)

OUTBOX_LAG = Gauge("happening_outbox_lag_seconds", "Age of the oldest notification not yet relayed to RabbitMQ")
OUTBOX_PUBLISHED = Counter("happening_outbox_published_total", "Notification jobs confirmed by RabbitMQ")
OUTBOX_ERRORS = Counter("happening_outbox_errors_total", "Relay cycles that failed", ["kind"])

# The first `$1` undispatched rows not locked by another relay, minus rows of a user whose earlier
# undispatched row is outside this batch (another relay holds it): they wait for the next cycle.
CLAIM_BATCH = """
with batch as (
    select id, user_id, seq, type, channel, recipient, created_at
    from notifications
    where dispatched_at is null
    order by seq
    limit $1
    for update skip locked
)
select b.* from batch b
where b.user_id is null or not exists (
    select 1 from notifications p
    where p.dispatched_at is null and p.user_id = b.user_id and p.seq < b.seq
      and p.id <> all(array(select id from batch))
)
order by b.seq
"""
MARK_DISPATCHED = "update notifications set dispatched_at = now() where id = any($1::uuid[])"
OLDEST_UNDISPATCHED = """
select extract(epoch from now() - created_at)::float8 from notifications
where dispatched_at is null order by seq limit 1
"""


class NotConfirmed(aiormq.exceptions.AMQPError):
    """The broker nacked a publish (e.g. a queue refusing messages): retried after reconnecting."""


class OutboxRelay:
    """Relays the notifications outbox to the notifications exchange until `stop()`."""

    batch_size = 200
    jobs_per_message = 50
    poll_seconds = 1.0
    linger_seconds = 0.01
    publish_timeout = 30.0
    stop_timeout = 10.0

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.topology = Topology.for_settings(settings.amqp, settings.notify)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self.connection_name = "outbox-relay"

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        """Finish the batch in hand and close. A relay stuck (e.g. connecting) is cancelled after
        `stop_timeout`: its uncommitted batch rolls back and is published again by the next relay."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await stop_task(self._task, self.stop_timeout)
            self._task = None
        await self._close_listener()

    async def _run(self) -> None:
        await keep_connected(self.settings.amqp, self.connection_name, self._stopping, self._session,
                             failed=lambda kind: OUTBOX_ERRORS.labels(kind).inc())

    async def _session(self, connection: AbstractConnection, backoff: Backoff) -> None:
        # cast: aiormq annotates channel() as AbstractChannel, whose basic_publish lacks the `wait` argument;
        # what it returns is always an aiormq.Channel, which takes it
        channel = cast(aiormq.Channel, await connection.channel(publisher_confirms=True))
        await declare_topology(channel, self.topology)
        log.info("outbox_relay_connected")
        backoff.reset()
        await self._pump(channel)

    async def _pump(self, channel: aiormq.Channel) -> None:
        """Dispatch batches until stopped; between batches wait for NOTIFY or the poll interval."""
        while not self._stopping.is_set():
            await self._ensure_listener()
            self._wake.clear()  # before the query, so a NOTIFY during the batch is not missed
            dispatched = await self._dispatch_batch(channel)
            if dispatched >= self.batch_size:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass  # the poll interval elapsed: look again
            else:
                # Woken by a commit: let the commits right behind it join this batch (a relay cycle
                # and a message cost about the same for one row as for fifty).
                await asyncio.sleep(self.linger_seconds)

    async def _dispatch_batch(self, channel: aiormq.Channel) -> int:
        """Publish one batch and mark the confirmed rows; raises after marking if a publish failed."""
        failure: BaseException | None = None
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM_BATCH, self.batch_size)
            if rows:
                n = self.jobs_per_message
                messages = [rows[i:i + n] for i in range(0, len(rows), n)]
                results = await asyncio.gather(
                    *(self._publish(channel, jobs) for jobs in messages), return_exceptions=True,
                )
                confirmed = []
                for jobs, result in zip(messages, results, strict=True):
                    if not isinstance(result, Basic.Ack):  # keep order: stop at the first failure
                        failure = result if isinstance(result, BaseException) else NotConfirmed(
                            f"publish of notification {jobs[0]['id']} not confirmed: {result!r}")
                        break
                    confirmed += [row["id"] for row in jobs]
                await conn.execute(MARK_DISPATCHED, confirmed)
                OUTBOX_PUBLISHED.inc(len(confirmed))
            lag = await conn.fetchval(OLDEST_UNDISPATCHED)
        OUTBOX_LAG.set(lag or 0.0)
        if rows:
            log.debug("outbox_dispatched", count=len(rows) if failure is None else len(confirmed))
        if failure is not None:
            raise failure
        return len(rows)

    async def _publish(self, channel: aiormq.Channel, rows: list[asyncpg.Record]) -> object:
        """One message with `rows` as jobs, named (message id, type, routing key) after the first."""
        first = rows[0]
        body = orjson.dumps({"jobs": [{
            "id": str(row["id"]), "type": row["type"], "channel": row["channel"],
            "user_id": str(row["user_id"]) if row["user_id"] else None, "seq": row["seq"],
        } for row in rows]})
        properties = Basic.Properties(
            delivery_mode=2, message_id=str(first["id"]), content_type="application/json",
            message_type=first["type"], timestamp=first["created_at"],
        )
        return await channel.basic_publish(
            body, exchange=self.topology.exchange, routing_key=f"{first['channel']}.{first['type']}",
            properties=properties, mandatory=True, timeout=self.publish_timeout,
            wait=False,  # the confirm is what counts; waiting for each write would serialize the batch
        )

    async def _ensure_listener(self) -> None:
        """(Re)open the LISTEN connection; while it is down the poll alone keeps the relay going."""
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self.settings.database.url, timeout=5)
            await self._listener.add_listener(OUTBOX_CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("outbox_listen_failed", error=repr(exc))
            await self._close_listener()

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            await listener.close()
