"""Live updates, the engine's side: one Redis pub/sub message per committed change of an event, queued and
sent from a task of its own so a reply never waits for it. Fire-and-forget: a lost message is made good
by the next change (full counters) or by the streams' resync (docs/architecture.md)."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
import structlog
from prometheus_client import Counter
from redis.exceptions import RedisError

from .connections import RedisClient, publisher
from .constants import live_channel
from .store.booking_rows import BatchWrite, Counters
from .values import json_default

log = structlog.get_logger(__name__)
PUBLISHED = Counter("happening_live_published_total", "Live update messages published to Redis")
PUBLISH_FAILED = Counter("happening_live_publish_failed_total", "Live update messages lost (Redis error, backlog)")
MAX_BACKLOG = 10_000  # messages queued while Redis is slow or down; older ones are dropped beyond this


@dataclass(slots=True)  # not frozen: made per booking, and a frozen __init__ costs more
class LiveBooking:
    """A booking whose status changed, as the streams show it; `updated_at` (epoch seconds, as written to
    PostgreSQL) orders it against a snapshot the stream read."""

    id: UUID
    user_id: UUID
    status: str
    seats: int
    updated_at: float
    waiting_number: int | None = None
    position: int | None = None


@dataclass(frozen=True, slots=True)
class LiveChange:
    """One committed change of an event: either a batch write, or bookings listed directly."""

    event_id: UUID
    status: str
    counters: Counters | None
    write: BatchWrite | None = None
    bookings: Sequence[LiveBooking] = ()
    moved: bool = False
    committed_at: float = field(default_factory=time.time)

    def message(self) -> dict[str, Any]:
        bookings, moved = list(self.bookings), self.moved
        if self.write is not None:
            more, write_moved = _from_write(self.write)
            bookings += more
            moved = moved or write_moved
        counters = self.counters
        # orjson writes the UUIDs and the LiveBooking dataclasses itself, field by field
        return {"event_id": self.event_id, "status": self.status, "committed_at": self.committed_at,
                "total_slots": counters.total_slots if counters else None,
                "available_slots": counters.available_slots if counters else None,
                "waitlist_length": counters.waitlist_length if counters else None,
                "moved": moved, "bookings": bookings}


def _from_write(write: BatchWrite) -> tuple[list[LiveBooking], bool]:
    """The bookings a batch changed, and whether any of them left the waitlist."""
    positions: dict[UUID, int] = {}
    moved = False
    for row in write.history:
        action, details = row.action, row.details
        if action == "created" and details.get("position") is not None:
            positions[row.booking_id] = details["position"]
        elif action == "promoted" or (action == "cancelled" and details.get("previous_status") == "waiting"):
            moved = True
    return [LiveBooking(b.id, b.user_id, b.status, b.seats, b.updated_at.timestamp(), b.waiting_number,
                        positions.get(b.id))
            for b in write.bookings.values()], moved


class LivePublisher:
    """Queues changes and publishes them in order, one pipeline per flush, off the caller's path."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self.redis = publisher(redis)  # on a cluster, a client of its own to one node: closed by `stop`
        self._own_client = self.redis is not redis
        self.prefix = prefix
        self._pending: list[LiveChange] = []
        self._task: asyncio.Task[None] | None = None

    def publish(self, change: LiveChange) -> None:
        """Queue `change`; never blocks and never raises."""
        self._pending.append(change)
        if len(self._pending) > MAX_BACKLOG:
            dropped = len(self._pending) - MAX_BACKLOG
            del self._pending[:dropped]
            PUBLISH_FAILED.inc(dropped)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush(), name="live-publish")

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for change in batch:
                            pipe.publish(live_channel(self.prefix, change.event_id),
                                         orjson.dumps(change.message(), default=json_default))
                        await pipe.execute()
                    PUBLISHED.inc(len(batch))
                except (TimeoutError, RedisError, OSError) as exc:
                    PUBLISH_FAILED.inc(len(batch))
                    log.warning("live_publish_failed", messages=len(batch), error=repr(exc))
        finally:
            self._task = None

    async def stop(self) -> None:
        """Let the messages already queued go out (an engine stopping after its last commits)."""
        if self._task is not None:
            await asyncio.wait([self._task], timeout=2)
        if self._own_client:
            await self.redis.aclose()
