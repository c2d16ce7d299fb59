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
  send half way; jobs of one user run one at a time, in delivery order (claim, send, record, ack).
- Batched round trips: each job has its own task, but the jobs in hand meet in two micro-batchers
  (`batch.py`): the claims that arrive together (up to the prefetch, waiting a few ms for company)
  are one `UPDATE ... WHERE id = any($1)`; the outcomes that arrive together are one UPDATE from
  unnest plus one audit insert, in one transaction (`rows.py`). Acks are coalesced into
  `basic.ack(multiple=True)` where the tags are contiguous (`acks.py`). A slow send holds up only
  the jobs of its own user, never a batch.
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
from aiormq.abc import AbstractConnection, DeliveredMessage
from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from pamqp.commands import Basic
from prometheus_client import Counter, Histogram

from ..amqp import AMQP_ERRORS, Backoff, Topology, declare_topology, keep_connected, stop_task
from ..config import Settings
from .acks import Acks
from .batch import Batcher
from .channels import Channels, DeliveryFailed, Job
from .render import render
from .rows import Outcome, claim_many, record_outcomes

log = structlog.get_logger(__name__)

NOTIFICATIONS = Counter("happening_notifications_total", "Notifications delivered or given up",
                        ["type", "channel", "status"])
RETRIES = Counter("happening_notification_retries_total", "Failed attempts scheduled for a retry",
                  ["type", "channel"])
SKIPPED = Counter("happening_notification_jobs_skipped_total",
                  "Jobs not sent because their row was already sent, failed, or held", ["reason"])
DELIVERY_SECONDS = Histogram("happening_notification_delivery_seconds", "Time to hand a notification over",
                             ["channel"])

DB_ERRORS = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)
BROKER_ERRORS = (AMQPError, ChannelInvalidStateError)  # OSError is ambiguous: treated as a DB error


class NotificationWorker:
    """Consumes the notifications queue until `stop()`; reconnects after a broker outage."""

    batch_wait = 0.003  # how long an idle batcher waits for more jobs to join the first one

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.notify = settings.notify
        self.send_timeout = settings.notify.send_timeout
        self.topology = Topology.for_settings(settings.amqp, settings.notify)
        self.lease_seconds = 2 * self.send_timeout + 10  # a claim outlives any send
        self.connection_name = "notification-worker"
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # per user: lock, jobs holding it
        self._session: aiohttp.ClientSession | None = None
        self._channels: Channels | None = None
        size = max(self.notify.prefetch, 1)
        self._claims: Batcher[uuid.UUID, asyncpg.Record | str | None] = Batcher(
            self._claim_many, max_size=size, max_wait=self.batch_wait, name="worker-claims")
        self._outcomes: Batcher[Outcome, None] = Batcher(
            self._record_many, max_size=size, max_wait=self.batch_wait, name="worker-outcomes")

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
        await keep_connected(self.settings.amqp, self.connection_name, self._stopping, self._consume)

    async def _consume(self, connection: AbstractConnection, backoff: Backoff) -> None:
        channel = await connection.channel(publisher_confirms=True)
        await channel.basic_qos(prefetch_count=self.notify.prefetch)
        await declare_topology(channel, self.topology)
        acks = Acks(channel)

        async def on_message(message: DeliveredMessage) -> None:
            self._on_message(acks, message)

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

    def _on_message(self, acks: Acks, message: DeliveredMessage) -> None:
        acks.delivered(message.delivery_tag)
        key = _order_key(message)
        lock, holders = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, holders + 1)
        # our own task, not aiormq's: closing the channel must not cancel a send half way
        task = asyncio.get_running_loop().create_task(self._process(acks, message, key, lock))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _process(self, acks: Acks, message: DeliveredMessage, key: str, lock: asyncio.Lock) -> None:
        try:
            async with lock:
                await self._handle(acks, message)
        except BROKER_ERRORS as exc:  # the broker redelivers the job; the row makes that harmless
            log.warning("worker_ack_lost", message_id=message.header.properties.message_id, error=repr(exc))
        except DB_ERRORS + (asyncpg.PostgresError,) as exc:
            log.warning("worker_postgres_failed", message_id=message.header.properties.message_id,
                        error=repr(exc))
            await asyncio.sleep(1.0)
            await _settle(acks, message, requeue=True)
        except Exception:  # never lose a job silently: log, and hand it back to the queue
            log.exception("worker_job_failed", message_id=message.header.properties.message_id)
            await asyncio.sleep(1.0)
            await _settle(acks, message, requeue=True)
        finally:
            lock, holders = self._locks[key]
            if holders <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, holders - 1)

    async def _handle(self, acks: Acks, message: DeliveredMessage) -> None:
        raw_id = message.header.properties.message_id or ""
        try:
            nid = uuid.UUID(raw_id)
        except ValueError:
            log.error("worker_job_malformed", message_id=raw_id)
            await acks.nack(message.delivery_tag, requeue=False)  # to the dead letters
            return
        row = await self._claims.submit(nid)
        if not isinstance(row, asyncpg.Record):
            await self._not_claimed(acks, message, row)
            return
        assert self._channels is not None
        sender = self._channels.for_row(row["channel"])
        job = Job(id=str(nid), type=row["type"], recipient=row["send_to"],
                  user_id=str(row["user_id"]) if row["user_id"] else None,
                  event_id=str(row["event_id"]) if row["event_id"] else None)
        error, permanent = await self._send(sender, job, row)
        labels = (row["type"], sender.name)
        if error is None:
            await self._outcomes.submit(Outcome(nid, "sent", sender.name))
            NOTIFICATIONS.labels(*labels, "sent").inc()
            await acks.ack(message.delivery_tag)
        elif permanent or row["attempts"] >= self.notify.max_attempts:
            await self._outcomes.submit(Outcome(nid, "failed", error))
            NOTIFICATIONS.labels(*labels, "failed").inc()
            log.warning("notification_failed", notification_id=job.id, attempts=row["attempts"], error=error)
            await acks.nack(message.delivery_tag, requeue=False)
        else:
            await self._outcomes.submit(Outcome(nid, "released", error))
            RETRIES.labels(*labels).inc()
            delay_ms = self.topology.retry_delay_ms(row["attempts"])
            log.info("notification_retry", notification_id=job.id, attempts=row["attempts"], delay_ms=delay_ms,
                     error=error)
            await self._delay(acks, message, delay_ms)

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

    async def _not_claimed(self, acks: Acks, message: DeliveredMessage, status: str | None) -> None:
        if status == "pending":  # another delivery holds it: look again after the shortest delay
            SKIPPED.labels("held").inc()
            await self._delay(acks, message, self.topology.retry_delays_ms[0])
        elif status == "failed" and message.delivery.redelivered:
            # marked failed, then the worker lost the job before its nack: dead-letter it now
            SKIPPED.labels("failed").inc()
            await acks.nack(message.delivery_tag, requeue=False)
        else:  # sent, failed (a duplicate of a dead-lettered job), or the row is gone
            SKIPPED.labels(status or "missing").inc()
            await acks.ack(message.delivery_tag)

    async def _delay(self, acks: Acks, message: DeliveredMessage, delay_ms: int) -> None:
        """Move the job to the delay queue for `delay_ms` (confirmed), then ack the original."""
        props = message.header.properties
        confirm = await acks.channel.basic_publish(
            message.body, exchange=self.topology.retry_exchange, routing_key=str(delay_ms), mandatory=True,
            wait=False,  # the confirm is what counts
            properties=Basic.Properties(delivery_mode=2, message_id=props.message_id, message_type=props.message_type,
                                        content_type=props.content_type, timestamp=props.timestamp),
        )
        if isinstance(confirm, Basic.Ack):
            await acks.ack(message.delivery_tag)
        else:
            log.warning("worker_delay_not_confirmed", message_id=props.message_id, result=repr(confirm))
            await acks.nack(message.delivery_tag, requeue=True)

    async def _claim_many(self, ids: list[uuid.UUID]) -> list[asyncpg.Record | str | None]:
        return await claim_many(self.pool, ids, self.lease_seconds)

    async def _record_many(self, outcomes: list[Outcome]) -> list[None]:
        """Write outcomes, retrying through a short PostgreSQL outage: the sends already happened."""
        delay = 0.1
        for attempt in range(12):
            try:
                async with self.pool.acquire() as conn:
                    await record_outcomes(conn, outcomes)
                return [None] * len(outcomes)
            except DB_ERRORS as exc:
                if attempt == 11:
                    raise
                log.warning("worker_record_retry", count=len(outcomes), error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")


def _order_key(message: DeliveredMessage) -> str:
    """Jobs with the same key run one at a time in delivery order: the user, else the job itself."""
    try:
        body = json.loads(message.body)
    except ValueError:
        body = None
    user = body.get("user_id") if isinstance(body, dict) else None
    return str(user or message.header.properties.message_id or message.delivery_tag)


async def _settle(acks: Acks, message: DeliveredMessage, *, requeue: bool) -> None:
    try:
        await acks.nack(message.delivery_tag, requeue=requeue)
    except AMQP_ERRORS as exc:  # the channel is gone: the broker requeues the job by itself
        log.warning("worker_nack_lost", message_id=message.header.properties.message_id, error=repr(exc))


def aiormq_closed(closing: asyncio.Future[Any]) -> BaseException:
    """The error to raise once a channel closed: its reason, else a generic closed-channel error."""
    exc = closing.exception() if not closing.cancelled() else None
    return exc if isinstance(exc, Exception) else ChannelInvalidStateError("channel closed")
