"""Engine commands over RabbitMQ: the API's client and the engine shard's consumer.

Each shard has one durable queue with a single active consumer, so a standby engine process takes
over when the active one dies. Replies travel RPC-style (reply_to + correlation_id) to a private
queue of the sending process. Commands for one event always reach the same queue, in publish order.
"""
from __future__ import annotations

import asyncio
import functools
import json
import uuid
from typing import Any

import aiormq
import structlog
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage

from .amqp import AMQP_ERRORS, Backoff, connect, keep_connected
from .client import EngineClient
from .commands import Command, from_wire, to_wire
from .config import Settings
from .constants import shard_queue
from .errors import ERROR_TYPES, DomainError, Unavailable
from .sharding import shard_of

log = structlog.get_logger(__name__)
REPLY_TIMEOUT = 30.0
SHARD_QUEUE_ARGS = {"x-single-active-consumer": True}


async def declare_shard_queue(channel: AbstractChannel, settings: Settings, shard: int) -> str:
    name = shard_queue(settings.amqp.prefix, shard)
    await channel.queue_declare(name, durable=True, arguments=SHARD_QUEUE_ARGS)
    return name


class AmqpEngineClient:
    """`EngineClient` that routes each command to its event's shard queue and awaits the reply."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._reply_queue = ""
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Connect lazily on the first command, so the API starts even while RabbitMQ is down."""

    async def stop(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        self._fail_pending("the API is shutting down")

    async def _ensure(self) -> AbstractChannel:
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            self._connection = await connect(self.settings.amqp, "api-engine-client")
            channel = await self._connection.channel()
            for shard in range(self.settings.engine.shards):
                await declare_shard_queue(channel, self.settings, shard)
            declared = await channel.queue_declare("", exclusive=True, auto_delete=True)
            self._reply_queue = declared.queue
            await channel.basic_consume(self._reply_queue, self._on_reply, no_ack=True)
            self._connection.closing.add_done_callback(lambda _: self._fail_pending("RabbitMQ connection lost"))
            self._channel = channel
            return channel

    def _fail_pending(self, reason: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(Unavailable(f"the booking engine did not answer: {reason}"))
        self._pending.clear()

    async def _on_reply(self, message: DeliveredMessage) -> None:
        future = self._pending.pop(message.header.properties.correlation_id or "", None)
        if future is None or future.done():
            return  # the caller timed out already
        data = json.loads(message.body)
        if data["ok"]:
            future.set_result(data["result"])
        else:
            error = ERROR_TYPES.get(data["error"], Unavailable)
            future.set_exception(error(data["detail"], field=data.get("field"), **data.get("extra", {})))

    async def send(self, command: Command) -> dict[str, Any]:
        try:
            channel = await self._ensure()
            correlation = uuid.uuid4().hex
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending[correlation] = future
            shard = shard_of(command.event_id, self.settings.engine.shards)
            await channel.basic_publish(
                json.dumps(to_wire(command)).encode(), routing_key=shard_queue(self.settings.amqp.prefix, shard),
                properties=aiormq.spec.Basic.Properties(
                    reply_to=self._reply_queue, correlation_id=correlation, content_type="application/json"))
        except AMQP_ERRORS as exc:
            log.warning("engine_publish_failed", error=repr(exc))
            raise Unavailable("the booking engine cannot be reached, please retry") from exc
        try:
            return await asyncio.wait_for(future, REPLY_TIMEOUT)
        except TimeoutError as exc:
            raise Unavailable("the booking engine did not answer in time, please retry") from exc
        finally:
            self._pending.pop(correlation, None)


class ShardConsumer:
    """Feeds one shard's queue to the in-process engine; replies, then acks."""

    def __init__(self, engine: EngineClient, settings: Settings, prefetch: int = 2000) -> None:
        self.engine = engine
        self.settings = settings
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
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({stop, connection.closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()

    async def _on_message(self, channel: AbstractChannel, message: DeliveredMessage) -> None:
        # One task per command, created in delivery order: the actor's mailbox sees that order.
        task = asyncio.create_task(self._handle(channel, message))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _handle(self, channel: AbstractChannel, message: DeliveredMessage) -> None:
        try:
            command = from_wire(json.loads(message.body))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("bad_engine_command", error=repr(exc))
            await channel.basic_reject(message.delivery_tag, requeue=False)
            return
        try:
            reply: dict[str, Any] = {"ok": True, "result": await self.engine.send(command)}
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
