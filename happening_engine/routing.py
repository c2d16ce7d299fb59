"""Engine commands over RabbitMQ: the API's client (the engine's side is `shard_consumer.py`). Deadlines,
request ids, re-routing under a newer shard map and per-turn batching: docs/architecture.md,
"Commands between processes"."""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from typing import Any

import aiormq
import structlog
from aiormq.abc import AbstractChannel, AbstractConnection, ArgumentsType, DeliveredMessage

from .amqp import AMQP_ERRORS, connect
from .batch import Batcher
from .command_batch import decode_replies, encode_commands, entry
from .commands import Book, Command
from .config import Settings
from .constants import shard_queue
from .errors import DomainError, Refused, ShardDown, Unavailable
from .ids import new_id
from .shard_health import ShardHealth
from .shard_map import ShardMapView
from .sharding import shard_of
from .signing import HEADER, CommandKeys

log = structlog.get_logger(__name__)
REPLY_GRACE = 2.0
REROUTES = 3  # sends of one command while the shard map changes under it
SHARD_QUEUE_ARGS: ArgumentsType = {"x-single-active-consumer": True}
BATCH_SIZE = 256  # commands per message at most


class _NotSent(Exception):
    """The command batch never left this process (no connection to RabbitMQ)."""


async def declare_shard_queue(channel: AbstractChannel, settings: Settings, shard: int) -> str:
    name = shard_queue(settings.amqp.prefix, shard)
    await channel.queue_declare(name, durable=True, arguments=SHARD_QUEUE_ARGS)
    return name


class AmqpEngineClient:
    """`EngineClient` that routes each command to its event's shard queue and awaits the reply."""

    def __init__(self, settings: Settings, health: ShardHealth | None = None,
                 shard_map: ShardMapView | None = None) -> None:
        self.settings = settings
        self.health = health  # which shards have a live engine: none means a 503 at once
        self.map = shard_map  # the shard count to route by (None: settings.engine.shards, fixed)
        self._declared: set[int] = set()
        self.keys = CommandKeys.parse(settings.engine.command_keys)
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._reply_queue = ""
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._lost: set[str] = set()  # correlations failed by a lost connection, not by the engine
        self._lock = asyncio.Lock()
        self._batchers: dict[int, Batcher[dict[str, Any], None]] = {}  # per shard

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
            self._declared = set()
            declared = await channel.queue_declare("", exclusive=True, auto_delete=True)
            assert declared.queue is not None, "a Queue.DeclareOk always names the queue (AMQP 0-9-1)"
            self._reply_queue = declared.queue
            await channel.basic_consume(self._reply_queue, self._on_reply, no_ack=True)
            self._connection.closing.add_done_callback(lambda _: self._fail_pending("RabbitMQ connection lost"))
            self._channel = channel
            return channel

    def _fail_pending(self, reason: str) -> None:
        for correlation, future in self._pending.items():
            if not future.done():
                self._lost.add(correlation)
                future.set_exception(Unavailable(f"the booking engine did not answer: {reason}"))
        self._pending.clear()

    async def _on_reply(self, message: DeliveredMessage) -> None:
        try:
            replies = list(decode_replies(message.body))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("bad_engine_reply", error=repr(exc))
            return
        for correlation, outcome in replies:
            future = self._pending.pop(correlation, None)
            if future is None or future.done():
                continue  # the caller timed out already
            if isinstance(outcome, DomainError):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _route(self, command: Command) -> tuple[int, int]:
        """(shard, map version) of the event under the newest map known here."""
        if self.map is None:
            return shard_of(command.event_id, self.settings.engine.shards), 0
        current = self.map.current
        return shard_of(command.event_id, current.shards), current.version

    async def send(self, command: Command, deadline: float | None = None) -> dict[str, Any]:
        if isinstance(command, Book) and command.request_id is None:
            command = dataclasses.replace(command, request_id=new_id())
        if deadline is None:
            deadline = time.time() + self.settings.engine.command_timeout
        for _ in range(REROUTES):
            shard, version = self._route(command)
            try:
                return await self._send(command, deadline, shard, version)
            except Refused as exc:  # an engine under a newer map: route again by it, if the shard differs
                if exc.extra.get("reason") != "wrong_shard" or self.map is None:
                    raise
                await self.map.refresh(int(exc.extra.get("map_version") or 0))
                if self._route(command)[0] == shard:
                    raise
                log.info("command_rerouted", event_id=str(command.event_id), shard=shard,
                         map_version=self.map.current.version)
        raise Unavailable("the shard map is changing, please retry")

    async def _send(self, command: Command, deadline: float, shard: int, version: int) -> dict[str, Any]:
        if self.health is not None and shard in self.health.down:
            raise ShardDown(f"the booking engine of shard {shard} is not running, please retry", shard=shard)
        correlation = new_id()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[correlation] = future
        try:
            await self._batcher(shard).submit(entry(correlation, command, deadline, version))
        except _NotSent as exc:
            self._pending.pop(correlation, None)
            log.warning("engine_unreachable", error=repr(exc.__cause__))
            raise Unavailable("the booking engine cannot be reached, please retry") from exc
        except AMQP_ERRORS as exc:  # it may have left before the failure: it may yet take effect
            log.warning("engine_publish_failed", error=repr(exc))
            self._pending.pop(correlation, None)
            await _until_void(deadline)
            raise Unavailable("the booking engine cannot be reached, please retry") from exc
        except BaseException:  # cancelled while its batch was being published
            self._pending.pop(correlation, None)
            raise
        try:
            return await asyncio.wait_for(future, max(0.0, deadline + REPLY_GRACE - time.time()))
        except TimeoutError as exc:
            raise Unavailable("the booking engine did not answer in time; the request had no effect,"
                              " please retry") from exc
        except Unavailable:  # the connection was lost: the command may still be delivered in time
            if future.done() and future.exception() is not None and correlation not in self._lost:
                raise  # an answer from the engine itself
            await _until_void(deadline)
            raise
        finally:
            self._pending.pop(correlation, None)
            self._lost.discard(correlation)

    def _batcher(self, shard: int) -> Batcher[dict[str, Any], None]:
        batcher = self._batchers.get(shard)
        if batcher is None:
            batcher = self._batchers[shard] = Batcher(functools.partial(self._publish, shard), max_size=BATCH_SIZE,
                                                      max_wait=0.0, name=f"engine-commands-{shard}")
        return batcher

    async def _publish(self, shard: int, entries: list[dict[str, Any]]) -> list[None]:
        """One signed message to the shard's queue carrying `entries`, replies to this process's queue."""
        try:
            channel = await self._ensure()
            if shard not in self._declared:
                await declare_shard_queue(channel, self.settings, shard)
                self._declared.add(shard)
        except AMQP_ERRORS as exc:  # nothing was sent
            raise _NotSent("no channel to RabbitMQ") from exc
        body = encode_commands(entries)
        signature = self.keys.sign(body)
        await channel.basic_publish(
            body, routing_key=shard_queue(self.settings.amqp.prefix, shard),
            properties=aiormq.spec.Basic.Properties(
                reply_to=self._reply_queue, content_type="application/json",
                headers={HEADER: signature} if signature else None))
        return [None] * len(entries)


async def _until_void(deadline: float) -> None:
    """Wait until a command sent with `deadline` can no longer take effect."""
    await asyncio.sleep(max(0.0, deadline + REPLY_GRACE - time.time()))
