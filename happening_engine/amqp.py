"""RabbitMQ: connecting with a reconnect backoff, and the notification topology.

Topology (every name through `constants.amqp_name(prefix, ...)`):
- `notifications` topic exchange -> `notifications` quorum queue (the jobs). Its dead-letter exchange
  is `notifications.dead` (fanout) -> `notifications.dead` quorum queue.
- `notifications.retry` direct exchange -> one delay queue per backoff step, named for its delay
  (`notifications.retry.<ms>`), whose per-queue TTL dead-letters the job back to `notifications`.
  A delay queue named for its delay keeps redeclaring safe when `retry_base_seconds` changes.
Every queue is a quorum queue dead-lettering `at-least-once`, which RabbitMQ only honours together
with `x-overflow: reject-publish`; so a dead letter is never dropped on its way.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiormq
import asyncpg
import structlog
from aiormq.abc import AbstractChannel, AbstractConnection, DeliveredMessage
from yarl import URL

from .config import AmqpSettings, NotifySettings
from .constants import (
    NOTIFICATIONS_DEAD_EXCHANGE,
    NOTIFICATIONS_DEAD_QUEUE,
    NOTIFICATIONS_EXCHANGE,
    NOTIFICATIONS_QUEUE,
    NOTIFICATIONS_RETRY_EXCHANGE,
    amqp_name,
)

log = structlog.get_logger(__name__)

# what a lost broker or a closed connection/channel raises
AMQP_ERRORS: tuple[type[BaseException], ...] = (
    aiormq.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError, ConnectionError, OSError,
)


async def connect(settings: AmqpSettings, name: str) -> AbstractConnection:
    """Open a connection named `<prefix>.<name>` (visible in `rabbitmqctl list_connections`), with the
    settings' heartbeat unless the URL names one."""
    connection_name = amqp_name(settings.prefix, name)
    url = URL(settings.url)
    if "heartbeat" not in url.query:
        url = url.update_query(heartbeat=settings.heartbeat)
    return await aiormq.connect(url, client_properties={"connection_name": connection_name})


class Backoff:
    """Capped exponential delay between reconnect attempts; `reset()` after a good connection."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first, self.cap, self.current = first, cap, first

    def reset(self) -> None:
        self.current = self.first

    async def wait(self, stopping: asyncio.Event) -> None:
        """Sleep for the current delay (returns early once `stopping` is set), then double it."""
        try:
            await asyncio.wait_for(stopping.wait(), self.current)
        except TimeoutError:
            pass  # the delay elapsed: time to try again
        self.current = min(self.current * 2, self.cap)


async def keep_connected(settings: AmqpSettings, name: str, stopping: asyncio.Event,
                         session: Callable[[AbstractConnection, Backoff], Awaitable[None]],
                         failed: Callable[[str], None] | None = None) -> None:
    """Run `session(connection, backoff)` on a fresh connection until `stopping` is set; after any
    failure (logged, and counted through `failed(kind)`: amqp, postgres or unexpected) wait out the
    backoff and connect again. A session calls `backoff.reset()` once it is up."""
    backoff = Backoff()
    while not stopping.is_set():
        try:
            connection = await connect(settings, name)
        except AMQP_ERRORS as exc:
            kind: str | None = "amqp"
            log.warning("amqp_connect_failed", connection=name, error=repr(exc), retry_in=backoff.current)
        else:
            try:
                await session(connection, backoff)
                kind = None
            except AMQP_ERRORS as exc:
                kind = "amqp"
                log.warning("amqp_connection_lost", connection=name, error=repr(exc), retry_in=backoff.current)
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                kind = "postgres"
                log.warning("postgres_failed", connection=name, error=repr(exc), retry_in=backoff.current)
            except Exception:  # a bug must not end the component silently: log it, back off, go on
                kind = "unexpected"
                log.exception("amqp_session_failed", connection=name, retry_in=backoff.current)
            finally:
                await connection.close()
        if kind is not None:
            if failed is not None:
                failed(kind)
            await backoff.wait(stopping)


def delivery_tag(message: DeliveredMessage) -> int:
    """The tag a consumed message is acked by (aiormq's type allows none, which only a Basic.Return has)."""
    tag = message.delivery_tag
    assert tag is not None, "a message delivered to a consumer always carries its tag"
    return tag


async def requeue(channel: AbstractChannel, message: DeliveredMessage) -> None:
    """Hand `message` back to its queue (nothing if the channel is gone: then it goes back anyway)."""
    with contextlib.suppress(*AMQP_ERRORS):
        await channel.basic_reject(delivery_tag(message), requeue=True)


async def stop_task(task: asyncio.Task[None], timeout: float) -> None:
    """Wait for a component's main task to end by itself; cancel it after `timeout`."""
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        log.warning("amqp_component_stop_timeout", task=task.get_name(), timeout=timeout)
        task.cancel()
        await asyncio.wait({task})
    if not task.cancelled():
        error = task.exception()
        if error is not None:
            raise error


@dataclass(frozen=True)
class Topology:
    """Names and arguments of the notification exchanges and queues for one prefix."""

    exchange: str
    queue: str
    retry_exchange: str
    dead_exchange: str
    dead_queue: str
    retry_delays_ms: tuple[int, ...]  # one delay queue per step: base * 2**n, n = 0 .. max_attempts-2

    @classmethod
    def for_settings(cls, amqp: AmqpSettings, notify: NotifySettings) -> Topology:
        steps = max(notify.max_attempts - 1, 1)
        delays = tuple(sorted({max(1, round(notify.retry_base_seconds * 1000 * 2 ** n)) for n in range(steps)}))
        p = amqp.prefix
        return cls(amqp_name(p, NOTIFICATIONS_EXCHANGE), amqp_name(p, NOTIFICATIONS_QUEUE),
                   amqp_name(p, NOTIFICATIONS_RETRY_EXCHANGE), amqp_name(p, NOTIFICATIONS_DEAD_EXCHANGE),
                   amqp_name(p, NOTIFICATIONS_DEAD_QUEUE), delays)

    def retry_queue(self, delay_ms: int) -> str:
        return f"{self.retry_exchange}.{delay_ms}"

    def retry_delay_ms(self, attempt: int) -> int:
        """The delay before retrying after failed attempt number `attempt` (1-based)."""
        return self.retry_delays_ms[min(max(attempt, 1), len(self.retry_delays_ms)) - 1]

    @property
    def queues(self) -> list[str]:
        return [self.queue, self.dead_queue, *(self.retry_queue(d) for d in self.retry_delays_ms)]

    @property
    def exchanges(self) -> list[str]:
        return [self.exchange, self.retry_exchange, self.dead_exchange]


_SAFE_DEAD_LETTERING = {"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}


async def declare_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Declare every exchange, queue and binding (idempotent; relay and worker both call it)."""
    t = topology
    await channel.exchange_declare(t.exchange, exchange_type="topic", durable=True)
    await channel.exchange_declare(t.retry_exchange, exchange_type="direct", durable=True)
    await channel.exchange_declare(t.dead_exchange, exchange_type="fanout", durable=True)
    await channel.queue_declare(t.dead_queue, durable=True, arguments={"x-queue-type": "quorum"})
    await channel.queue_bind(t.dead_queue, t.dead_exchange, routing_key="")
    await channel.queue_declare(t.queue, durable=True, arguments={
        "x-queue-type": "quorum", "x-dead-letter-exchange": t.dead_exchange, **_SAFE_DEAD_LETTERING,
    })
    await channel.queue_bind(t.queue, t.exchange, routing_key="#")
    for delay_ms in t.retry_delays_ms:
        name = t.retry_queue(delay_ms)
        await channel.queue_declare(name, durable=True, arguments={
            "x-queue-type": "quorum", "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": t.exchange, **_SAFE_DEAD_LETTERING,
        })
        await channel.queue_bind(name, t.retry_exchange, routing_key=str(delay_ms))


async def delete_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Delete every queue and exchange of `topology` (tests, and tearing down a prefix)."""
    for queue in topology.queues:
        await channel.queue_delete(queue)
    for exchange in topology.exchanges:
        await channel.exchange_delete(exchange)
