"""An engine shard's side of the command queue: feeds its queue to the in-process engine.

Each shard has one durable queue with a single active consumer, so a standby engine process takes
over when the active one dies. While consuming, the engine beats its shard's heartbeat
(`shard_health`), so APIs know the shard has a live engine.
"""
from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import aiormq
import structlog
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage
from prometheus_client import Counter
from redis.asyncio import Redis

from .amqp import AMQP_ERRORS, Backoff, keep_connected
from .client import EngineClient
from .commands import from_wire
from .config import Settings
from .errors import DomainError, Refused
from .routing import declare_shard_queue
from .shard_health import Heartbeat
from .sharding import shard_of
from .signing import HEADER, CommandKeys

log = structlog.get_logger(__name__)
REFUSED = Counter("happening_engine_commands_refused_total", "Commands an engine would not run", ["reason"])


class ShardConsumer:
    """Feeds one shard's queue to the in-process engine; replies, then acks."""

    def __init__(self, engine: EngineClient, settings: Settings, redis: Redis, prefetch: int = 2000) -> None:
        self.engine = engine
        self.settings = settings
        self.heartbeat = Heartbeat(redis, settings.redis.prefix, settings.engine.shard)
        self.keys = CommandKeys.parse(settings.engine.command_keys)
        if not self.keys:
            log.warning("engine_commands_unauthenticated",
                        detail="HAPPENING_ENGINE_COMMAND_KEYS is not set: any publisher to the shard's queue is obeyed")
        self.prefetch = prefetch
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="shard-consumer")

    async def stop(self) -> None:
        self._stopping.set()
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=10)
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        name = f"engine-shard-{self.settings.engine.shard}"
        await keep_connected(self.settings.amqp, name, self._stopping, self._session)

    async def _session(self, connection: AbstractConnection, backoff: Backoff) -> None:
        channel = await connection.channel()
        await channel.basic_qos(prefetch_count=self.prefetch)
        queue = await declare_shard_queue(channel, self.settings, self.settings.engine.shard)
        await channel.basic_consume(queue, functools.partial(self._on_message, channel), no_ack=False)
        log.info("shard_consuming", queue=queue)
        backoff.reset()
        self.heartbeat.start()
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({stop, connection.closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            await self.heartbeat.stop()

    async def _on_message(self, channel: AbstractChannel, message: DeliveredMessage) -> None:
        # One task per command, created in delivery order: the actor's mailbox sees that order.
        task = asyncio.create_task(self._handle(channel, message))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _handle(self, channel: AbstractChannel, message: DeliveredMessage) -> None:
        headers = message.header.properties.headers or {}
        if self.keys and not self.keys.verify(message.body, headers.get(HEADER)):
            REFUSED.labels("bad_signature").inc()
            log.error("engine_command_refused", reason="bad_signature", reply_to=message.header.properties.reply_to)
            await channel.basic_reject(message.delivery_tag, requeue=False)
            return
        try:
            wire = json.loads(message.body)
            command, deadline = from_wire(wire), wire.get("deadline")
        except (ValueError, KeyError, TypeError) as exc:
            log.error("bad_engine_command", error=repr(exc))
            REFUSED.labels("malformed").inc()
            await channel.basic_reject(message.delivery_tag, requeue=False)
            return
        try:
            engine = self.settings.engine
            if shard_of(command.event_id, engine.shards) != engine.shard:
                REFUSED.labels("wrong_shard").inc()
                log.warning("command_for_another_shard", event_id=str(command.event_id), shard=engine.shard)
                raise Refused(f"event {command.event_id} is not on shard {engine.shard} of {engine.shards}")
            reply: dict[str, Any] = {"ok": True, "result": await self.engine.send(command, deadline)}
        except DomainError as exc:
            reply = {"ok": False, "error": type(exc).__name__, "detail": exc.detail, "field": exc.field,
                     "extra": exc.extra}
        props = message.header.properties
        try:
            if props.reply_to:
                await channel.basic_publish(json.dumps(reply).encode(), routing_key=props.reply_to,
                                            properties=aiormq.spec.Basic.Properties(
                                                correlation_id=props.correlation_id,
                                                content_type="application/json"))
            await channel.basic_ack(message.delivery_tag)
        except AMQP_ERRORS as exc:
            log.warning("engine_reply_failed", error=repr(exc))
