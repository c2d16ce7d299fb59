"""The notification worker: consumes jobs with manual acks, delivers them once, retries with
backoff through delay queues, and dead-letters what keeps failing.

One job = one `notifications` row (message_id = its id); the row, not the message, is the truth:
- Claim: `UPDATE ... SET attempts + 1, claimed_until = now() + lease WHERE status = 'pending' AND
  the row is not claimed`. A job whose row is `sent` (a duplicate from the relay, a redelivery after
  a lost ack) is acked without sending. A job whose row another delivery holds goes to the shortest
  delay queue and is looked at again: if that delivery dies, its lease runs out and this copy sends.
- Order of effects: send, record (`sent` / `failed` / released with `last_error`), then ack. A crash
  before the ack is harmless (the redelivered job finds `sent`). The one window left - a crash after
  the provider accepted and before `sent` was recorded - resends once the lease expired; the mail's
  Message-ID and the providers' Idempotency-Key carry the notification id for the far side to drop it.
- Sends run in tasks of our own, not in aiormq's consumer task, so a lost connection never cancels a
  send half way; jobs of one user run one at a time, in delivery order.
- Retry: publish to `notifications.retry` with the delay for this attempt (confirmed), then ack; the
  delay queue's TTL dead-letters it back. After `max_attempts` (or a permanent refusal): `failed`,
  then `basic.nack(requeue=False)`, which the queue dead-letters at-least-once to the dead queue.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aiohttp
import asyncpg
import structlog
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage
from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from pamqp.commands import Basic
from prometheus_client import Counter, Histogram

from ..amqp import AMQP_ERRORS, Backoff, Topology, connect, declare_topology, stop_task
from ..config import Settings
from ..store.audit import record as audit
from .channels import Channels, DeliveryFailed, Job
from .render import render

log = structlog.get_logger(__name__)

NOTIFICATIONS = Counter("happening_notifications_total", "Notifications delivered or given up",
                        ["type", "channel", "status"])
RETRIES = Counter("happening_notification_retries_total", "Failed attempts scheduled for a retry",
                  ["type", "channel"])
SKIPPED = Counter("happening_notification_jobs_skipped_total",
                  "Jobs not sent because their row was already sent, failed, or held", ["reason"])
DELIVERY_SECONDS = Histogram("happening_notification_delivery_seconds", "Time to hand a notification over",
                             ["channel"])

CLAIM = """
with claimed as (
    update notifications
    set attempts = attempts + 1, claimed_until = now() + make_interval(secs => $2)
    where id = $1 and status = 'pending' and (claimed_until is null or claimed_until < now())
    returning *
)
select c.*, e.name as event_name, e.starts_at as event_starts_at, o.name as org_name,
       u.full_name as user_name
from claimed c
left join events e on e.id = c.event_id
left join organizations o on o.id = coalesce(c.org_id, e.org_id)
left join users u on u.id = c.user_id
"""
MARK_SENT = """
update notifications set status = 'sent', sent_at = now(), claimed_until = null, last_error = null,
    delivered_via = $2
where id = $1 and status = 'pending'
returning org_id, user_id, type, attempts
"""
MARK_FAILED = """
update notifications set status = 'failed', claimed_until = null, last_error = $2
where id = $1 and status = 'pending'
returning org_id, user_id, type, attempts
"""
# the audit row each status change writes, in the transaction of the change: (action, name of the value)
AUDITED = {MARK_SENT: ("sent", "channel"), MARK_FAILED: ("failed", "error")}
RELEASE = "update notifications set claimed_until = null, last_error = $2 where id = $1 and status = 'pending'"
STATUS = "select status from notifications where id = $1"
DB_ERRORS = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)
BROKER_ERRORS = (AMQPError, ChannelInvalidStateError)  # OSError is ambiguous: treated as a DB error


class NotificationWorker:
    """Consumes the notifications queue until `stop()`; reconnects after a broker outage."""

    send_timeout = 30.0

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.notify = settings.notify
        self.topology = Topology.for_settings(settings.amqp, settings.notify)
        self.lease_seconds = 2 * self.send_timeout + 10  # a claim outlives any send
        self.connection_name = "notification-worker"
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # per user: lock, jobs holding it
        self._session: aiohttp.ClientSession | None = None
        self._channels: Channels | None = None

    async def start(self) -> None:
        self._stopping.clear()
        self._session = aiohttp.ClientSession()
        self._channels = Channels(self.notify, self._session, self.send_timeout)
        self._task = asyncio.create_task(self._run(), name="notification-worker")

    async def stop(self) -> None:
        """Stop consuming, let jobs in hand finish (up to the send timeout), then close."""
        self._stopping.set()
        if self._task is not None:
            await stop_task(self._task, self.send_timeout + 10)
            self._task = None
        await self._drain()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        backoff = Backoff()
        while not self._stopping.is_set():
            try:
                connection = await connect(self.settings.amqp, self.connection_name)
            except AMQP_ERRORS as exc:
                log.warning("worker_amqp_connect_failed", error=repr(exc), retry_in=backoff.current)
                await backoff.wait(self._stopping)
                continue
            try:
                await self._consume(connection, backoff)
            except AMQP_ERRORS as exc:
                log.warning("worker_amqp_lost", error=repr(exc), retry_in=backoff.current)
                await backoff.wait(self._stopping)
            except Exception:  # a bug must not end the worker silently: log it, back off, go on
                log.exception("worker_failed", retry_in=backoff.current)
                await backoff.wait(self._stopping)
            finally:
                await connection.close()

    async def _consume(self, connection: AbstractConnection, backoff: Backoff) -> None:
        channel = await connection.channel(publisher_confirms=True)
        await channel.basic_qos(prefetch_count=self.notify.prefetch)
        await declare_topology(channel, self.topology)
        async def on_message(message: DeliveredMessage) -> None:
            self._on_message(channel, message)

        consume_ok = await channel.basic_consume(self.topology.queue, on_message, no_ack=False)
        log.info("worker_consuming", queue=self.topology.queue, prefetch=self.notify.prefetch)
        backoff.reset()
        closing = channel.closing
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait([closing, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if closing.done():
            raise aiormq_closed(closing)
        closing.cancel()
        await channel.basic_cancel(consume_ok.consumer_tag)
        await self._drain()  # acks need the channel: finish before the connection closes

    async def _drain(self) -> None:
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=self.send_timeout + 5)
            if pending:
                log.warning("worker_jobs_still_running", count=len(pending))

    def _on_message(self, channel: AbstractChannel, message: DeliveredMessage) -> None:
        key = _order_key(message)
        lock, holders = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, holders + 1)
        # our own task, not aiormq's: closing the channel must not cancel a send half way
        task = asyncio.get_running_loop().create_task(self._process(channel, message, key, lock))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _process(self, channel: AbstractChannel, message: DeliveredMessage, key: str,
                       lock: asyncio.Lock) -> None:
        try:
            async with lock:
                await self._handle(channel, message)
        except BROKER_ERRORS as exc:  # the broker redelivers the job; the row makes that harmless
            log.warning("worker_ack_lost", message_id=message.header.properties.message_id, error=repr(exc))
        except DB_ERRORS + (asyncpg.PostgresError,) as exc:
            log.warning("worker_postgres_failed", message_id=message.header.properties.message_id,
                        error=repr(exc))
            await asyncio.sleep(1.0)
            await _settle(channel, message, requeue=True)
        except Exception:  # never lose a job silently: log, and hand it back to the queue
            log.exception("worker_job_failed", message_id=message.header.properties.message_id)
            await asyncio.sleep(1.0)
            await _settle(channel, message, requeue=True)
        finally:
            lock, holders = self._locks[key]
            if holders <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, holders - 1)

    async def _handle(self, channel: AbstractChannel, message: DeliveredMessage) -> None:
        raw_id = message.header.properties.message_id or ""
        try:
            nid = str(uuid.UUID(raw_id))
        except ValueError:
            log.error("worker_job_malformed", message_id=raw_id)
            await channel.basic_nack(message.delivery_tag, requeue=False)  # to the dead letters
            return
        row = await self.pool.fetchrow(CLAIM, uuid.UUID(nid), self.lease_seconds)
        if row is None:
            await self._not_claimed(channel, message, nid)
            return
        assert self._channels is not None
        sender = self._channels.for_row(row["channel"])
        job = Job(id=nid, type=row["type"], recipient=row["recipient"],
                  user_id=str(row["user_id"]) if row["user_id"] else None,
                  event_id=str(row["event_id"]) if row["event_id"] else None)
        error, permanent = await self._send(sender, job, row)
        labels = (row["type"], sender.name)
        if error is None:
            await self._record(MARK_SENT, nid, sender.name)
            NOTIFICATIONS.labels(*labels, "sent").inc()
            await channel.basic_ack(message.delivery_tag)
        elif permanent or row["attempts"] >= self.notify.max_attempts:
            await self._record(MARK_FAILED, nid, error)
            NOTIFICATIONS.labels(*labels, "failed").inc()
            log.warning("notification_failed", notification_id=nid, attempts=row["attempts"], error=error)
            await channel.basic_nack(message.delivery_tag, requeue=False)
        else:
            await self._record(RELEASE, nid, error)
            RETRIES.labels(*labels).inc()
            delay_ms = self.topology.retry_delay_ms(row["attempts"])
            log.info("notification_retry", notification_id=nid, attempts=row["attempts"], delay_ms=delay_ms,
                     error=error)
            await self._delay(channel, message, delay_ms)

    async def _send(self, sender: Any, job: Job, row: asyncpg.Record) -> tuple[str | None, bool]:
        """Deliver once; returns (error, permanent). Every failure is recorded on the row."""
        started = asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(sender.send(job, render(row)), self.send_timeout)
        except DeliveryFailed as exc:
            return str(exc), exc.permanent
        except TimeoutError:
            return f"{sender.name}: no answer within {self.send_timeout}s", False
        except Exception as exc:  # a bug in rendering or a channel: retried, then `failed`, never lost
            log.exception("notification_send_crashed", notification_id=job.id)
            return f"internal error: {exc!r}", False
        finally:
            DELIVERY_SECONDS.labels(sender.name).observe(asyncio.get_running_loop().time() - started)
        return None, False

    async def _not_claimed(self, channel: AbstractChannel, message: DeliveredMessage, nid: str) -> None:
        status = await self.pool.fetchval(STATUS, uuid.UUID(nid))
        if status == "pending":  # another delivery holds it: look again after the shortest delay
            SKIPPED.labels("held").inc()
            await self._delay(channel, message, self.topology.retry_delays_ms[0])
        elif status == "failed" and message.delivery.redelivered:
            # marked failed, then the worker lost the job before its nack: dead-letter it now
            SKIPPED.labels("failed").inc()
            await channel.basic_nack(message.delivery_tag, requeue=False)
        else:  # sent, failed (a duplicate of a dead-lettered job), or the row is gone
            SKIPPED.labels(status or "missing").inc()
            await channel.basic_ack(message.delivery_tag)

    async def _delay(self, channel: AbstractChannel, message: DeliveredMessage, delay_ms: int) -> None:
        """Move the job to the delay queue for `delay_ms` (confirmed), then ack the original."""
        props = message.header.properties
        confirm = await channel.basic_publish(
            message.body, exchange=self.topology.retry_exchange, routing_key=str(delay_ms), mandatory=True,
            properties=Basic.Properties(delivery_mode=2, message_id=props.message_id, message_type=props.message_type,
                                        content_type=props.content_type, timestamp=props.timestamp),
        )
        if isinstance(confirm, Basic.Ack):
            await channel.basic_ack(message.delivery_tag)
        else:
            log.warning("worker_delay_not_confirmed", message_id=props.message_id, result=repr(confirm))
            await channel.basic_nack(message.delivery_tag, requeue=True)

    async def _record(self, query: str, nid: str, value: str) -> None:
        """Write an outcome, retrying through a short PostgreSQL outage: the send already happened.

        A status change (`sent`, `failed`) writes its audit row in the same transaction."""
        delay = 0.1
        for attempt in range(12):
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    row = await conn.fetchrow(query, uuid.UUID(nid), value)
                    if row is not None and query in AUDITED:
                        action, name = AUDITED[query]
                        await audit(conn, org_id=row["org_id"], actor_id=None, entity="notification",
                                    entity_id=uuid.UUID(nid), action=action, before={"status": "pending"},
                                    after={"status": action, name: value, "type": row["type"],
                                           "attempts": row["attempts"],
                                           "user_id": str(row["user_id"]) if row["user_id"] else None})
                return
            except DB_ERRORS as exc:
                if attempt == 11:
                    raise
                log.warning("worker_record_retry", notification_id=nid, error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


def _order_key(message: DeliveredMessage) -> str:
    """Jobs with the same key run one at a time in delivery order: the user, else the job itself."""
    try:
        body = json.loads(message.body)
    except ValueError:
        body = None
    user = body.get("user_id") if isinstance(body, dict) else None
    return str(user or message.header.properties.message_id or message.delivery_tag)


async def _settle(channel: AbstractChannel, message: DeliveredMessage, *, requeue: bool) -> None:
    try:
        await channel.basic_nack(message.delivery_tag, requeue=requeue)
    except AMQP_ERRORS as exc:  # the channel is gone: the broker requeues the job by itself
        log.warning("worker_nack_lost", message_id=message.header.properties.message_id, error=repr(exc))


def aiormq_closed(closing: asyncio.Future[Any]) -> BaseException:
    """The error to raise once a channel closed: its reason, else a generic closed-channel error."""
    exc = closing.exception() if not closing.cancelled() else None
    return exc if isinstance(exc, Exception) else ChannelInvalidStateError("channel closed")
