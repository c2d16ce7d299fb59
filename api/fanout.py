"""Live updates, the API's side: one Redis subscription per process, fanned out in memory to its open
streams (event states at most once per `min_interval` per event, bookings to their owners, waitlist
positions from Redis); the details are in docs/architecture.md.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import structlog
from prometheus_client import Counter, Gauge
from redis.exceptions import RedisError

from happening_engine.connections import RedisClient
from happening_engine.constants import event_key, live_pattern

from .feeds import Feed
from .streams import HEARTBEAT, Inbox, UserInbox, frame, stamp

log = structlog.get_logger(__name__)
_InboxT = TypeVar("_InboxT", bound=Inbox)
STREAMS = Gauge("happening_live_streams", "Open live streams")
RECEIVED = Counter("happening_live_messages_total", "Live update messages received from Redis")
LPOS_MAX = 64  # beyond this many watched bookings of one event, read its whole waitlist once instead


class Fanout:
    def __init__(self, redis: RedisClient, prefix: str, *, min_interval: float = 0.1, heartbeat: float = 15.0,
                 sweep: float = 1.0) -> None:
        self.redis, self.prefix = redis, prefix
        self.min_interval, self.heartbeat, self.sweep = min_interval, heartbeat, sweep
        self.closing = False
        self.subscribed = asyncio.Event()
        self._inboxes: set[Inbox] = set()
        self._feeds: dict[str, Feed] = {}
        self._users: dict[str, set[UserInbox]] = {}
        self._waiting: dict[str, dict[str, tuple[str, str]]] = {}  # event -> booking -> (user, waitlist entry)
        self._watched: dict[str, set[tuple[str, str]]] = {}  # user -> (event, booking) in _waiting
        self._positions_dirty: dict[str, float | None] = {}
        self._positions_running: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._reader: asyncio.Task[None] | None = None
        self._refreshes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Sweep from now on; `subscribe` once the first stream opens (a process nobody watches through,
        e.g. one serving only bookings, does not read every committed change)."""
        self._tasks = [asyncio.create_task(self._sweep(), name="live-sweeper")]

    async def subscribe(self, wait: float = 2.0) -> None:
        """Subscribe if not yet, waiting up to `wait` s: a stream registered before the subscription holds
        would be told to read its snapshot again (one registered after needs nothing)."""
        if self.subscribed.is_set():
            return
        if self._reader is None and not self.closing:
            self._reader = asyncio.create_task(self._read(), name="live-subscription")
            self._tasks.append(self._reader)
        with contextlib.suppress(TimeoutError):  # Redis is slow or down: the stream resyncs once it is there
            await asyncio.wait_for(self.subscribed.wait(), wait)

    def close_streams(self) -> None:
        """End every stream (the server is shutting down); new ones end right after their snapshot."""
        self.closing = True
        for inbox in list(self._inboxes):
            inbox.close()

    async def stop(self) -> None:
        self.close_streams()
        tasks = [*self._tasks, *self._refreshes]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._inboxes)

    def watch_event(self, event_id: str, alive: Callable[[], bool], expires_at: float | None) -> Inbox:
        inbox = Inbox(event_id, alive, expires_at)
        self._feeds.setdefault(event_id, Feed()).inboxes.add(inbox)
        return self._add(inbox)

    def watch_user(self, user_id: str, alive: Callable[[], bool], expires_at: float | None) -> UserInbox:
        inbox = UserInbox(user_id, alive, expires_at)
        self._users.setdefault(user_id, set()).add(inbox)
        return self._add(inbox)

    def _add(self, inbox: _InboxT) -> _InboxT:
        self._inboxes.add(inbox)
        STREAMS.set(len(self._inboxes))
        if self.closing:
            inbox.close()
        return inbox

    def track(self, inbox: UserInbox, booking: dict[str, Any], version: float) -> None:
        """Record a booking of the user's snapshot as sent, watching its position if it waits (read
        again from Redis at once: it may have moved while the snapshot was read)."""
        inbox.known(booking, version)
        self._index(booking)
        if booking["status"] == "waiting":
            self._positions(booking["event_id"], None)

    def forget(self, inbox: Inbox) -> None:
        """Drop a stream (idempotent)."""
        if inbox not in self._inboxes:
            return
        self._inboxes.discard(inbox)
        STREAMS.set(len(self._inboxes))
        if isinstance(inbox, UserInbox):
            inboxes = self._users.get(inbox.topic, set())
            inboxes.discard(inbox)
            if not inboxes:
                self._users.pop(inbox.topic, None)
                for event_id, booking_id in self._watched.pop(inbox.topic, ()):
                    self._unindex(event_id, booking_id)
        elif (feed := self._feeds.get(inbox.topic)) is not None:
            feed.inboxes.discard(inbox)
            if not feed.inboxes:
                feed.cancel()
                del self._feeds[inbox.topic]

    def _index(self, booking: dict[str, Any]) -> None:
        event_id, booking_id, user_id = booking["event_id"], booking["id"], booking["user_id"]
        if booking["status"] == "waiting":
            entry = f"{booking_id}:{user_id}:{booking['seats']}"  # as the seat scripts store it
            self._waiting.setdefault(event_id, {})[booking_id] = (user_id, entry)
            self._watched.setdefault(user_id, set()).add((event_id, booking_id))
        elif booking_id in self._waiting.get(event_id, {}):
            self._unindex(event_id, booking_id)
            self._watched.get(user_id, set()).discard((event_id, booking_id))

    def _unindex(self, event_id: str, booking_id: str) -> None:
        bookings = self._waiting.get(event_id)
        if bookings is not None:
            bookings.pop(booking_id, None)
            if not bookings:
                del self._waiting[event_id]

    def dispatch(self, raw: str | bytes) -> None:
        """Route one message from the engine (`happening_engine.live`) to the streams that want it."""
        RECEIVED.inc()
        if not self._inboxes:  # nobody watches through this process any more: nothing to decode
            return
        message = orjson.loads(raw)
        event_id, at = message["event_id"], message["committed_at"]
        feed = self._feeds.get(event_id)
        if feed is not None and message["available_slots"] is not None:
            feed.push(self.min_interval, frame("state", {
                "event_id": event_id, "status": message["status"], "total_slots": message["total_slots"],
                "available_slots": message["available_slots"], "waitlist_length": message["waitlist_length"],
                "committed_at": stamp(at)}))
        for b in message["bookings"]:
            inboxes = self._users.get(b["user_id"])
            if inboxes:
                booking = {"id": b["id"], "event_id": event_id, "user_id": b["user_id"], "status": b["status"],
                           "seats": b["seats"], "waiting_number": b["waiting_number"], "position": b["position"],
                           "updated_at": stamp(b["updated_at"])}
                self._index(booking)
                for inbox in inboxes:
                    inbox.booking(booking, b["updated_at"], at)
        if message["moved"] and event_id in self._waiting:
            self._positions(event_id, at)

    def _positions(self, event_id: str, at: float | None) -> None:
        """Refresh the positions of the watched waiting bookings of `event_id` (one run at a time per
        event; changes arriving meanwhile make it run once more)."""
        self._positions_dirty[event_id] = at
        if event_id not in self._positions_running:
            self._positions_running.add(event_id)
            task = asyncio.create_task(self._refresh_positions(event_id))
            self._refreshes.add(task)
            task.add_done_callback(self._refreshes.discard)

    async def _refresh_positions(self, event_id: str) -> None:
        try:
            while event_id in self._positions_dirty:
                at = self._positions_dirty.pop(event_id)
                watched = list(self._waiting.get(event_id, {}).items())
                if not watched:
                    break
                found = await self._lookup(event_id, [entry for _, (_, entry) in watched])
                for (booking_id, (user_id, _)), index in zip(watched, found):
                    if index is not None:  # None: it left the waitlist; its own message says how
                        for inbox in self._users.get(user_id, ()):
                            inbox.position(booking_id, index + 1, at)
        except (RedisError, OSError) as exc:
            log.warning("live_positions_failed", event_id=event_id, error=repr(exc))
        finally:
            self._positions_running.discard(event_id)
            self._positions_dirty.pop(event_id, None)

    async def _lookup(self, event_id: str, entries: list[str]) -> list[int | None]:
        key = event_key(self.prefix, event_id, "waitlist")
        if len(entries) > LPOS_MAX:
            index = {entry: i for i, entry in enumerate(await self.redis.lrange(key, 0, -1))}
            return [index.get(entry) for entry in entries]
        async with self.redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.lpos(key, entry)
            return list(await pipe.execute())

    async def _read(self) -> None:
        pattern = live_pattern(self.prefix)
        while True:
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(pattern)
                self.subscribed.set()
                for inbox in self._inboxes:  # changes may have been missed while not subscribed
                    inbox.request_resync()
                async for message in pubsub.listen():
                    if message["type"] == "pmessage":
                        try:
                            self.dispatch(message["data"])
                        except (ValueError, KeyError, TypeError) as exc:
                            log.error("live_message_invalid", error=repr(exc))
            except (RedisError, OSError) as exc:
                log.warning("live_subscription_lost", error=repr(exc))
            finally:
                self.subscribed.clear()
                await pubsub.aclose()
            await asyncio.sleep(1.0)

    async def _sweep(self) -> None:
        slots, tick = max(1, round(self.heartbeat / self.sweep)), 0
        while True:
            await asyncio.sleep(self.sweep)
            tick, now = tick + 1, time.time()
            for inbox in list(self._inboxes):
                if not inbox.alive() or inbox.expired(now):
                    inbox.close()
                    self.forget(inbox)
                elif inbox.number % slots == tick % slots:
                    inbox.offer("", HEARTBEAT)
