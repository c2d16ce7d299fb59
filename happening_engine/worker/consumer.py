"""The notification worker: consumes jobs with manual acks, delivers each once, retries with backoff
through delay queues, and dead-letters what keeps failing. The row, not the message, is the truth; the
whole protocol (claims, order of effects, batching, retries) is in docs/architecture.md.
"""
from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg
import structlog
from aiormq.abc import AbstractConnection, DeliveredMessage
from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from pamqp.commands import Basic
from prometheus_client import Counter, Histogram

from ..amqp import Backoff, Topology, delivery_tag, keep_connected, stop_task
from ..batch import Batcher
from ..config import Settings
from ..sealed import Sealer
from .acks import Acks
from .channels import Channels, DeliveryFailed, Job
from .jobs import DEAD, DONE, HANDED_BACK, JobOutcome, Verdict, after_send, unclaimed
from .locks import KeyedLocks
from .messages import hand_back, jobs_of, move
from .rows import Outcome, claim_many, record_outcomes
from .session import consume
from .wording import wording

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
    rows_per_statement = 500  # at most, per claim and per outcome statement

    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self.pool = pool
        self.settings = settings
        self.notify = settings.notify
        self._sealer = Sealer(settings.notify.invite_keys)
        self.send_timeout = settings.notify.send_timeout
        self.topology = Topology.for_settings(settings.amqp, settings.notify)
        self.lease_seconds = 2 * self.send_timeout + 10  # a claim outlives any send
        self.connection_name = "notification-worker"
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._locks = KeyedLocks()  # per user: jobs of one user run one at a time, in delivery order
        self._session: aiohttp.ClientSession | None = None
        self._channels: Channels | None = None
        size = self.rows_per_statement
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
        await consume(connection, backoff, self.topology, self.notify.prefetch, self._stopping, self._on_message,
                      self._drain)

    async def _drain(self) -> None:
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=self.send_timeout + 5)
            if pending:
                log.warning("worker_jobs_still_running", count=len(pending))

    def _on_message(self, acks: Acks, message: DeliveredMessage) -> None:
        acks.delivered(delivery_tag(message))
        jobs = jobs_of(message)
        # Each job takes its user's lock now, in delivery order: jobs of one user run in that order.
        held = [self._hold(job) for job in jobs or ()]
        # our own task, not aiormq's: closing the channel must not cancel a send half way
        task = asyncio.get_running_loop().create_task(self._process(acks, message, jobs is not None, held))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    def _hold(self, job: dict[str, Any]) -> tuple[dict[str, Any], str, asyncio.Lock]:
        key = str(job.get("user_id") or job["id"])  # a notice to no user waits for nobody
        return job, key, self._locks.hold(key)

    async def _process(self, acks: Acks, message: DeliveredMessage, well_formed: bool,
                       held: list[tuple[dict[str, Any], str, asyncio.Lock]]) -> None:
        """Run the message's jobs, then settle it: jobs to retry or to give up on are published on
        (confirmed) as jobs of their own, then the message is acked; if any job could not be
        handled (PostgreSQL down, a bug), the whole message goes back to the queue."""
        message_id = message.header.properties.message_id
        try:
            if not well_formed:
                log.error("worker_job_malformed", message_id=message_id)
                await acks.nack(delivery_tag(message), requeue=False)  # to the dead letters
                return
            redelivered = isinstance(message.delivery, Basic.Deliver) and bool(message.delivery.redelivered)
            verdicts = await asyncio.gather(*(self._job(job, key, lock, redelivered) for job, key, lock in held))
            if any(verdict.outcome is JobOutcome.HANDED_BACK for verdict in verdicts):
                await asyncio.sleep(1.0)
                await hand_back(acks, message)
                return
            moves = [move(acks.channel, self.topology, job, verdict) for (job, _, _), verdict in zip(held, verdicts)
                     if verdict.outcome is not JobOutcome.DONE]
            confirms = await asyncio.gather(*moves)
            if all(isinstance(c, Basic.Ack) for c in confirms):
                await acks.ack(delivery_tag(message))
            else:
                log.warning("worker_move_not_confirmed", message_id=message_id, results=repr(confirms))
                await acks.nack(delivery_tag(message), requeue=True)
        except BROKER_ERRORS as exc:  # the broker redelivers the message; the rows make that harmless
            log.warning("worker_ack_lost", message_id=message_id, error=repr(exc))

    async def _job(self, job: dict[str, Any], key: str, lock: asyncio.Lock, redelivered: bool) -> Verdict:
        """One job under its user's lock; HANDED_BACK if it could not be handled."""
        try:
            async with lock:
                return await self._handle(job, redelivered)
        except DB_ERRORS + (asyncpg.PostgresError,) as exc:
            log.warning("worker_postgres_failed", notification_id=job["id"], error=repr(exc))
        except Exception:  # never lose a job silently: log, and hand its message back to the queue
            log.exception("worker_job_failed", notification_id=job["id"])
        finally:
            self._locks.release(key)
        return HANDED_BACK

    async def _handle(self, job: dict[str, Any], redelivered: bool) -> Verdict:
        nid = uuid.UUID(job["id"])
        row = await self._claims.submit(nid)
        if not isinstance(row, asyncpg.Record):
            return self._not_claimed(row, redelivered)
        assert self._channels is not None
        sender = self._channels.for_row(row["channel"])
        delivery = Job(id=str(nid), type=row["type"], recipient=row["send_to"],
                       user_id=str(row["user_id"]) if row["user_id"] else None,
                       event_id=str(row["event_id"]) if row["event_id"] else None)
        error, permanent = await self._send(sender, delivery, row)
        labels = (row["type"], sender.name)
        if error is None:
            await self._outcomes.submit(Outcome(nid, "sent", sender.name))
            NOTIFICATIONS.labels(*labels, "sent").inc()
            return DONE
        if after_send(error, permanent, row["attempts"], self.notify.max_attempts) is JobOutcome.DEAD:
            await self._outcomes.submit(Outcome(nid, "failed", error))
            NOTIFICATIONS.labels(*labels, "failed").inc()
            log.warning("notification_failed", notification_id=delivery.id, attempts=row["attempts"], error=error)
            return DEAD
        await self._outcomes.submit(Outcome(nid, "released", error))
        RETRIES.labels(*labels).inc()
        delay_ms = self.topology.retry_delay_ms(row["attempts"])
        log.info("notification_retry", notification_id=delivery.id, attempts=row["attempts"], delay_ms=delay_ms,
                 error=error)
        return Verdict(JobOutcome.RETRY, delay_ms)

    def _invite_url(self, row: asyncpg.Record) -> str | None:
        """An invite's link, from the token sealed in its notice (None for other notices, or when no
        key opens it: the email then says whom to ask, and nothing readable was ever stored)."""
        if row["type"] != "org_invite":
            return None
        token = self._sealer.open((row["payload"] or {}).get("token_sealed"))
        if token is None:
            return None
        return f"{self.notify.public_url.rstrip('/')}/invites/accept?{urlencode({'token': token})}"

    async def _send(self, sender: Any, job: Job, row: asyncpg.Record) -> tuple[str | None, bool]:
        """Deliver once; returns (error, permanent). Every failure is recorded on the row."""
        started = asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(sender.send(job, wording(row, self._invite_url(row))), self.send_timeout)
        except DeliveryFailed as exc:
            return str(exc), exc.permanent
        except TimeoutError:
            return f"{sender.name}: no answer within {self.send_timeout}s", False
        except Exception as exc:  # a bug in the wording or a channel: retried, then `failed`, never lost
            log.exception("notification_send_crashed", notification_id=job.id)
            return f"internal error: {exc!r}", False
        finally:
            DELIVERY_SECONDS.labels(sender.name).observe(asyncio.get_running_loop().time() - started)
        return None, False

    def _not_claimed(self, status: str | None, redelivered: bool) -> Verdict:
        outcome = unclaimed(status, redelivered)
        if outcome is JobOutcome.RETRY:  # another delivery holds it: look again after the shortest delay
            SKIPPED.labels("held").inc()
            return Verdict(JobOutcome.RETRY, self.topology.retry_delays_ms[0])
        if outcome is JobOutcome.DEAD:  # marked failed, then the message was lost before the job moved
            SKIPPED.labels("failed").inc()
            return DEAD
        SKIPPED.labels(status or "missing").inc()  # sent, failed (a duplicate of a dead job), or no row
        return DONE

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
