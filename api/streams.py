"""One open live stream's inbox, and the SSE frames written to it. It keeps only the newest frame per key
(the event's state, or one booking): a slow reader catches up to the current state, never a backlog."""
from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from happening_engine.values import rfc3339

HEARTBEAT = b": ping\n\n"
_numbers = itertools.count()


def frame(event: str, data: Any) -> bytes:
    """An SSE message: `event: <name>`, one `data:` line of JSON, a blank line."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def stamp(epoch: float | None) -> str | None:
    """`committed_at` as RFC 3339 UTC with microseconds (None for a state read from PostgreSQL)."""
    if epoch is None:
        return None
    return rfc3339(datetime.fromtimestamp(epoch, UTC))


class Inbox:
    """What a stream has yet to write, woken by the fan-out; closed at shutdown, when the client went
    away (`alive` turned False) or when its token expired (the client reconnects with a fresh one)."""

    def __init__(self, topic: str, alive: Callable[[], bool], expires_at: float | None) -> None:
        self.topic = topic  # the event id of an event stream, the user id of a user's stream
        self.alive = alive
        self.expires_at = expires_at
        self.number = next(_numbers)  # spreads heartbeats over the interval
        self.closed = False
        self.resync = False  # the subscription broke: changes may have been missed
        self._pending: dict[str, bytes] = {}
        self._wake = asyncio.Event()

    def offer(self, key: str, data: bytes) -> None:
        self._pending[key] = data
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    def request_resync(self) -> None:
        self.resync = True
        self._wake.set()

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    async def take(self) -> list[bytes] | None:
        """The frames to write next (latest per key, in first-offered order); None once closed."""
        while not self.closed and not self._pending and not self.resync:
            self._wake.clear()
            await self._wake.wait()
        if self.closed:
            return None
        frames, self._pending = list(self._pending.values()), {}
        return frames


class UserInbox(Inbox):
    """A user's stream: remembers what it last sent of each booking and that state's version (its
    `updated_at`), so that it sends only changes, and never a change older than its snapshot (a
    message published before the snapshot was read may arrive after it)."""

    def __init__(self, user_id: str, alive: Callable[[], bool], expires_at: float | None) -> None:
        super().__init__(user_id, alive, expires_at)
        self.sent: dict[str, dict[str, Any]] = {}
        self.versions: dict[str, float] = {}

    def known(self, booking: dict[str, Any], version: float) -> None:
        """Record a booking as sent in a snapshot: a change of it offered while the snapshot was read,
        but no newer than it, is dropped."""
        booking_id = booking["id"]
        if self.versions.get(booking_id, -1.0) <= version:
            self._pending.pop(booking_id, None)
        self.sent[booking_id] = booking
        self.versions[booking_id] = version

    def booking(self, booking: dict[str, Any], version: float, committed_at: float | None) -> None:
        """A booking's new state, sent unless this stream already sent that state or a newer one."""
        known = self.versions.get(booking["id"])
        if known is not None and version <= known:
            return
        self.sent[booking["id"]] = booking
        self.versions[booking["id"]] = version
        self._send(booking, committed_at)

    def position(self, booking_id: str, position: int, committed_at: float | None) -> None:
        """A waiting booking's current position (read from Redis), sent if it changed."""
        last = self.sent.get(booking_id)
        if last is not None and last["status"] == "waiting" and last["position"] != position:
            self.sent[booking_id] = {**last, "position": position}
            self._send(self.sent[booking_id], committed_at)

    def _send(self, booking: dict[str, Any], committed_at: float | None) -> None:
        self.offer(booking["id"], frame("booking", {**booking, "committed_at": stamp(committed_at)}))
