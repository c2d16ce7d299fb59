"""An engine shard's side of the command queue: runs its shard's commands while it owns the shard, in
terms of one map version and one claim (docs/architecture.md, "Commands between processes")."""
from __future__ import annotations

import asyncio
import contextlib
import functools
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage
from prometheus_client import Counter, Histogram

from .amqp import AMQP_ERRORS, Backoff, delivery_tag, keep_connected, requeue
from .batch import Batcher
from .command_batch import Entry, Replies, decode_commands, publish_replies, reply_error, reply_ok
from .config import Settings
from .connections import RedisClient
from .engine import Engine
from .errors import DomainError, Fenced, Refused
from .fencing import Fence
from .ids import instance_name
from .routing import declare_shard_queue
from .shard_health import Heartbeat
from .shard_map import ShardMapView
from .sharding import shard_of
from .signing import HEADER, CommandKeys
from .store.shards import claim
from .tasks import cancelled_itself

log = structlog.get_logger(__name__)
REFUSED = Counter("happening_engine_commands_refused_total", "Commands an engine would not run", ["reason"])
BATCH = Histogram("happening_engine_commands_per_message", "Commands in one message to an engine shard",
                  buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
STEP_DOWN_WAIT = 10.0  # seconds a term's commands in flight may take to finish once it ends
CLAIM_RETRY = 0.5
REPLIES_PER_MESSAGE = 1024


@dataclass
class _Term:
    """One stretch of consuming the shard's queue under one map version (and at most one claim)."""

    version: int
    shards: int
    claim: asyncio.Task[int | None] | None = None
    over: asyncio.Event = field(default_factory=asyncio.Event)


class ShardConsumer:
    """Feeds one shard's queue to the in-process engine; replies, then acks."""

    def __init__(self, engine: Engine, settings: Settings, redis: RedisClient, pool: asyncpg.Pool,
                 shard_map: ShardMapView, prefetch: int = 2000) -> None:
        self.engine, self.settings, self.pool, self.map = engine, settings, pool, shard_map
        self.shard = settings.engine.shard
        self.fence = engine.fence or Fence.sharded(self.shard)
        self.heartbeat = Heartbeat(redis, settings.redis.prefix, self.shard)
        self.keys = CommandKeys.parse(settings.engine.command_keys)
        if not self.keys:
            log.warning("engine_commands_unauthenticated",
                        detail="HAPPENING_ENGINE_COMMAND_KEYS is not set: any publisher to the shard's queue is obeyed")
        self.prefetch = prefetch
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._repliers: dict[str, Batcher[Replies, None]] = {}  # per reply queue (one per API connection)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="shard-consumer")

    async def stop(self) -> None:
        self._stopping.set()
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=STEP_DOWN_WAIT)
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        await keep_connected(self.settings.amqp, f"engine-shard-{self.shard}", self._stopping, self._session)

    async def _session(self, connection: AbstractConnection, backoff: Backoff) -> None:
        channel = await connection.channel()
        await channel.basic_qos(prefetch_count=self.prefetch)
        queue = await declare_shard_queue(channel, self.settings, self.shard)
        self._repliers.clear()  # the reply queues of connections since closed are gone
        backoff.reset()
        while not self._stopping.is_set() and not connection.is_closed:
            current, changed = self.map.current, self.map.changed()
            if self.shard >= current.shards:  # no such shard under this map: wait for another one
                log.info("shard_not_in_map", shard=self.shard, shards=current.shards, version=current.version)
                await self._until(connection, changed)
            else:
                await self._term(connection, channel, queue, _Term(current.version, current.shards), changed)

    async def _until(self, connection: AbstractConnection, *waits: asyncio.Future[Any]) -> None:
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({stop, connection.closing, *waits}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()

    async def _term(self, connection: AbstractConnection, channel: AbstractChannel, queue: str, term: _Term,
                    changed: asyncio.Future[Any]) -> None:
        consumer = await channel.basic_consume(queue, functools.partial(self._on_message, channel, term),
                                               no_ack=False)
        log.info("shard_consuming", queue=queue, shards=term.shards, map_version=term.version)
        self.heartbeat.start()
        over = asyncio.ensure_future(term.over.wait())
        try:
            await self._until(connection, changed, over)
        finally:
            over.cancel()
            term.over.set()
            with contextlib.suppress(*AMQP_ERRORS):
                if not channel.is_closed:
                    await channel.basic_cancel(consumer.consumer_tag or "")
            await self.heartbeat.stop()
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=STEP_DOWN_WAIT)
            if term.claim is not None:
                term.claim.cancel()
                await self.engine.reset()  # no actor outlives the claim it worked under
                self.fence.release()
                log.info("shard_released", shard=self.shard, shards=term.shards, map_version=term.version)

    async def _claimed(self, term: _Term) -> int | None:
        if term.claim is None:
            term.claim = asyncio.create_task(self._claim(term))
        try:
            return await asyncio.shield(term.claim)
        except asyncio.CancelledError:
            if term.claim.cancelled() and not cancelled_itself():
                return None  # the term ended (its claim was cancelled), not this task
            raise

    async def _claim(self, term: _Term) -> int | None:
        """Take the shard under the term's map (retried while PostgreSQL is busy or unreachable; a frozen
        previous owner's backend that holds the row is ended by `claim` after STALE_AFTER)."""
        while not term.over.is_set():
            try:
                epoch = await claim(self.pool, term.shards, self.shard, instance_name())
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("shard_claim_failed", shard=self.shard, error=repr(exc))
                await asyncio.sleep(CLAIM_RETRY)
                continue
            if epoch is None:  # the map changed meanwhile: this term is over
                await self.map.refresh()
                term.over.set()
                return None
            self.fence.claimed(term.shards, self.shard, epoch, term.over.set)
            await self.engine.claimed(self.shard, term.shards)
            log.info("shard_claimed", shard=self.shard, shards=term.shards, epoch=epoch, map_version=term.version)
            return epoch
        return None

    async def _on_message(self, channel: AbstractChannel, term: _Term, message: DeliveredMessage) -> None:
        # One task per message, created in delivery order: the actors' mailboxes see that order.
        task = asyncio.create_task(self._handle(channel, term, message))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _handle(self, channel: AbstractChannel, term: _Term, message: DeliveredMessage) -> None:
        entries = self._read(message)
        if entries is None:
            with contextlib.suppress(*AMQP_ERRORS):
                await channel.basic_reject(delivery_tag(message), requeue=False)
            return
        BATCH.observe(len(entries))
        if not await self._serving(term, entries):
            await requeue(channel, message)
            return
        outcomes = await asyncio.gather(*(self._answer(term, e) for e in entries))
        replies = [reply for reply in outcomes if reply is not None]
        reply_to = message.header.properties.reply_to
        try:
            if replies and reply_to:
                await self._replier(reply_to).submit((channel, replies))
            if len(replies) < len(entries):  # fenced: the owner runs them (see the module's docstring)
                await requeue(channel, message)
            else:
                await channel.basic_ack(delivery_tag(message))
        except AMQP_ERRORS as exc:  # unacked, it goes back to the queue when the channel closes
            log.warning("engine_reply_failed", error=repr(exc))

    def _read(self, message: DeliveredMessage) -> list[Entry] | None:
        """The message's commands, or None if it is refused whole (not signed by our keys, not a batch)."""
        headers = message.header.properties.headers or {}
        if self.keys and not self.keys.verify(message.body, headers.get(HEADER)):
            REFUSED.labels("bad_signature").inc()
            log.error("engine_command_refused", reason="bad_signature", reply_to=message.header.properties.reply_to)
            return None
        try:
            return decode_commands(message.body)
        except ValueError as exc:
            log.error("bad_engine_command", error=repr(exc))
            REFUSED.labels("malformed").inc()
            return None

    async def _serving(self, term: _Term, entries: list[Entry]) -> bool:
        """False if the message must go back to the queue: the term is over (the sender knows a newer
        map, or this engine was fenced), or the shard could not be claimed for it."""
        sent_under = max((e.map_version for e in entries), default=0)
        if sent_under > term.version and (await self.map.refresh(sent_under)).version != term.version:
            term.over.set()  # the sender knows a newer map: this term ends, the commands wait for the next
        if term.over.is_set():
            return False
        if not any(e.command is not None and shard_of(e.command.event_id, term.shards) == self.shard
                   for e in entries):
            return True  # nothing to run here: no claim needed to refuse them
        return await self._claimed(term) is not None and not term.over.is_set()

    async def _answer(self, term: _Term, entry: Entry) -> dict[str, Any] | None:
        """The reply to one command, or None if it must go back to the queue (this engine was fenced)."""
        command = entry.command
        try:
            if command is None:
                REFUSED.labels("malformed").inc()
                raise Refused("the engine could not read the command", reason="malformed")
            if shard_of(command.event_id, term.shards) != self.shard:
                REFUSED.labels("wrong_shard").inc()
                log.warning("command_for_another_shard", event_id=str(command.event_id), shard=self.shard)
                raise Refused(f"event {command.event_id} is not on shard {self.shard} of {term.shards}",
                              reason="wrong_shard", map_version=term.version)
            return reply_ok(entry.id, await self.engine.send(command, entry.deadline))
        except Fenced:  # nothing was committed: the shard's owner runs it (this engine is stepping down)
            term.over.set()
            return None
        except DomainError as exc:
            return reply_error(entry.id, exc)

    def _replier(self, reply_to: str) -> Batcher[Replies, None]:
        replier = self._repliers.get(reply_to)
        if replier is None:
            replier = self._repliers[reply_to] = Batcher(
                functools.partial(publish_replies, reply_to), max_size=REPLIES_PER_MESSAGE, max_wait=0.0,
                name="engine-replies")
        return replier

