"""The live streams (Server-Sent Events): an event's seats and waitlist, and the caller's own bookings.
How they stay exact (registered before the snapshot, no resume): docs/architecture.md; their messages:
the OpenAPI document."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from aiohttp import web

from happening_engine.errors import NotFound
from happening_engine.store import bookings_read, events

from . import keys
from .auth import current_user
from .fanout import Fanout
from .permissions import visible_event
from .streams import Inbox, frame, stamp
from .validation import path_uuid

log = structlog.get_logger(__name__)
# A stream of an event seen through a membership asks again this often (on its next wake-up, a heartbeat
# at the latest), so a member removed from the organization stops getting its updates.
RECHECK_SECONDS = 15.0
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def state(row: asyncpg.Record) -> dict[str, Any]:
    return {"event_id": str(row["id"]), "status": row["status"], "total_slots": row["total_slots"],
            "available_slots": row["available_slots"], "waitlist_length": row["waitlist_length"],
            "committed_at": None}


def booking(row: asyncpg.Record) -> tuple[dict[str, Any], float]:
    """A booking as the stream sends it (ids as strings, as in the engine's messages), and its version."""
    version = row["updated_at"].timestamp()
    return {"id": str(row["id"]), "event_id": str(row["event_id"]), "user_id": str(row["user_id"]),
            "status": row["status"], "seats": row["seats"], "waiting_number": row["waiting_number"],
            "position": row["position"], "updated_at": stamp(version)}, version


async def event_stream(request: web.Request) -> web.StreamResponse:
    event_id = path_uuid(request, "event")
    _, role = await visible_event(request, event_id)
    fanout, pool = request.app[keys.FANOUT], request.app[keys.POOL]
    await fanout.subscribe()
    inbox = fanout.watch_event(str(event_id), _alive(request), _expiry(request))

    async def snapshot() -> bytes:
        row = await events.get(pool, event_id)
        return frame("state", state(row)) if row is not None else b""

    return await _serve(request, fanout, inbox, snapshot, None if role is None else _still_visible(request, event_id))


async def my_stream(request: web.Request) -> web.StreamResponse:
    user_id: UUID = current_user(request).id
    fanout, pool = request.app[keys.FANOUT], request.app[keys.POOL]
    await fanout.subscribe()
    inbox = fanout.watch_user(str(user_id), _alive(request), _expiry(request))

    async def snapshot() -> bytes:
        items = [booking(r) for r in await bookings_read.active_for_user(pool, user_id)]
        for item, version in items:
            fanout.track(inbox, item, version)
        return frame("snapshot", {"items": [item for item, _ in items]})

    return await _serve(request, fanout, inbox, snapshot)


async def _serve(request: web.Request, fanout: Fanout, inbox: Inbox, snapshot: Callable[[], Awaitable[bytes]],
                 allowed: Callable[[], Awaitable[bool]] | None = None) -> web.StreamResponse:
    """Write the snapshot, then whatever the inbox gets, until it is closed, the client goes away or
    `allowed` says the caller may no longer see it (the client's reconnect then gets the 404)."""
    try:
        first = await snapshot()  # before the headers: a failed read is still a problem response
        response = web.StreamResponse(headers=HEADERS)
        request_id = structlog.contextvars.get_contextvars().get("request_id")
        if request_id:
            response.headers["X-Request-ID"] = request_id
        await response.prepare(request)
        try:
            await response.write(first)
            async for data in _frames(inbox, snapshot):
                if allowed is not None and not await allowed():
                    log.info("live_access_lost")
                    break
                await response.write(data)
        except ConnectionError:  # the client went away mid-write
            log.debug("live_client_gone")
        return response
    finally:
        fanout.forget(inbox)


async def _frames(inbox: Inbox, snapshot: Callable[[], Awaitable[bytes]]) -> AsyncIterator[bytes]:
    while (frames := await inbox.take()) is not None:
        if inbox.resync:
            inbox.resync = False
            frames.insert(0, await snapshot())
        if frames:
            yield b"".join(frames)


def _still_visible(request: web.Request, event_id: UUID) -> Callable[[], Awaitable[bool]]:
    checked = time.monotonic()

    async def allowed() -> bool:
        nonlocal checked
        if time.monotonic() - checked < RECHECK_SECONDS:
            return True
        checked = time.monotonic()
        try:
            await visible_event(request, event_id)
        except NotFound:
            return False
        return True
    return allowed


def _alive(request: web.Request) -> Callable[[], bool]:
    def alive() -> bool:
        transport = request.transport
        return transport is not None and not transport.is_closing()
    return alive


def _expiry(request: web.Request) -> float | None:
    exp = current_user(request).claims.get("exp")
    return float(exp) if isinstance(exp, (int, float)) else None


def setup_live(app: web.Application) -> None:
    """The process's one live subscription, as a cleanup_ctx. Streams are ended in `on_shutdown`,
    which aiohttp runs before it waits for open handlers: otherwise every open stream would hold the
    shutdown for the runner's whole `shutdown_timeout`."""

    async def fanout_ctx(app: web.Application) -> AsyncIterator[None]:
        fanout = Fanout(app[keys.REDIS], app[keys.SETTINGS].redis.prefix)
        app[keys.FANOUT] = fanout
        await fanout.start()
        yield
        await fanout.stop()

    async def end_streams(app: web.Application) -> None:
        if keys.FANOUT in app:
            app[keys.FANOUT].close_streams()

    app.cleanup_ctx.append(fanout_ctx)
    app.on_shutdown.append(end_streams)
