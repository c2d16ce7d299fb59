"""The worker's AMQP session: one consuming channel with publisher confirms (retries and dead
letters are confirmed publishes), held until the channel closes (then `keep_connected` reconnects)
or the worker stops."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiormq.abc import AbstractConnection, DeliveredMessage
from aiormq.exceptions import ChannelInvalidStateError

from ..amqp import Backoff, Topology, declare_topology
from .acks import Acks

log = structlog.get_logger(__name__)


async def consume(connection: AbstractConnection, backoff: Backoff, topology: Topology, prefetch: int,
                  stopping: asyncio.Event, on_message: Callable[[Acks, DeliveredMessage], None],
                  drain: Callable[[], Awaitable[None]]) -> None:
    """Consume `topology.queue` on `connection`, handing each message to `on_message`, until the channel
    closes (raises its reason) or `stopping` is set (stops consuming, then `drain`s the jobs in hand)."""
    channel = await connection.channel(publisher_confirms=True)
    await channel.basic_qos(prefetch_count=prefetch)
    await declare_topology(channel, topology)
    acks = Acks(channel)

    async def deliver(message: DeliveredMessage) -> None:
        on_message(acks, message)

    consume_ok = await channel.basic_consume(topology.queue, deliver, no_ack=False)
    log.info("worker_consuming", queue=topology.queue, prefetch=prefetch)
    backoff.reset()
    closing = channel.closing
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait([closing, stopped], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if closing.done():
        raise aiormq_closed(closing)
    closing.cancel()
    assert consume_ok.consumer_tag is not None, "a Basic.ConsumeOk always names its consumer"
    await channel.basic_cancel(consume_ok.consumer_tag)
    await drain()  # acks need the channel: finish before the connection closes


def aiormq_closed(closing: asyncio.Future[Any]) -> BaseException:
    """The error to raise once a channel closed: its reason, else a generic closed-channel error."""
    exc = closing.exception() if not closing.cancelled() else None
    return exc if isinstance(exc, Exception) else ChannelInvalidStateError("channel closed")
