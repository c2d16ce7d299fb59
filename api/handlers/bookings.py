"""Bookings: book (idempotent with `Idempotency-Key`), read, history, cancel; organizer views."""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from aiohttp import web

from happening_engine.commands import Book, CancelBooking
from happening_engine.errors import AccessUnchecked, InvalidInput, NotFound, Unavailable
from happening_engine.ids import new_id
from happening_engine.routing import REPLY_GRACE
from happening_engine.store import bookings_read, events, idempotency, orgs
from happening_engine.values import STORAGE_ERRORS, booking_json

from .. import engine, keys, pagination
from ..auth import current_user
from ..permissions import MANAGERS, visible_event
from ..responses import ok
from ..validation import Field, json_body, path_uuid, query

BOOK_BODY = {"seats": Field("int", required=True, min=1, max=10_000)}
STATUS_QUERY = {**pagination.QUERY, "status": Field("enum", choices=("confirmed", "waiting", "cancelled"))}
MINE_QUERY = {**STATUS_QUERY, "event": Field("uuid")}


def _with_event(row: asyncpg.Record) -> dict[str, Any]:
    """A booking as its owner reads it: with its event's name."""
    return {**booking_json(row), "event_name": row["event_name"]}


def _with_booker(row: asyncpg.Record) -> dict[str, Any]:
    """A booking as the event's organizers list it: with its event's name and the booker's email and name."""
    return {**_with_event(row), "user_email": row["user_email"], "user_name": row["user_name"]}


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get(idempotency.FIELD)
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise InvalidInput("Idempotency-Key must be 1-255 printable characters", field=idempotency.FIELD)
    return key


def _logged(booking: dict[str, Any]) -> dict[str, Any]:
    """Bind the new booking's id, so the request's log line carries it."""
    structlog.contextvars.bind_contextvars(booking_id=str(booking["id"]))
    return booking


async def _send_book(request: web.Request, command: Book) -> dict[str, Any]:
    """Book through the event's actor, which checks the event is public and the seats fit; membership is
    read only for an event that is not, then the command sent again. No answer is not "no booking": once
    `Unavailable` comes back nothing commits any more, so PostgreSQL says whether this request booked."""
    try:
        try:
            return _logged(await engine.send(request, command))
        except AccessUnchecked:
            await visible_event(request, command.event_id)  # 404 / 403 as for any other read of it
            return _logged(await engine.send(request, dataclasses.replace(command, public_only=False)))
    except Unavailable as unavailable:
        try:
            row = await bookings_read.by_request(request.app[keys.POOL], command.event_id, command.user_id,
                                                 str(command.request_id))
        except STORAGE_ERRORS:  # PostgreSQL is down too: the 503 stands, the retry will find out
            raise unavailable from None
        if row is None:
            raise
        structlog.get_logger(__name__).info("booking_found_without_answer", request_id=command.request_id)
        return _logged(booking_json(row))


async def book(request: web.Request) -> web.Response:
    event_id = path_uuid(request, "event")
    body = await json_body(request, BOOK_BODY)
    key = _idempotency_key(request)
    user_id = current_user(request).id
    # The key (or an id made here) is the request id the engine commits with the booking: the same
    # request arriving twice gets its booking, and a request left without an answer can be looked up.
    command = Book(event_id=event_id, user_id=user_id, seats=body["seats"], public_only=True,
                   request_id=key or new_id())
    if key is None:
        return ok(await _send_book(request, command), status=201)
    pool = request.app[keys.POOL]
    digest = hashlib.sha256(json.dumps({"event": str(event_id), **body}, sort_keys=True).encode()).hexdigest()
    abandoned = request.app[keys.SETTINGS].engine.command_timeout + REPLY_GRACE + 1  # its command is void
    replay = await idempotency.claim_waiting(pool, user_id, key, digest, abandoned)
    if replay is not None:
        return ok(replay.body, status=replay.status)
    done = False
    try:
        result = await _send_book(request, command)
        await idempotency.complete(pool, user_id, key, 201, result)
        done = True
        return ok(result, status=201)
    finally:
        if not done:
            await asyncio.shield(idempotency.release(pool, user_id, key))


async def _booking_for(request: web.Request) -> asyncpg.Record:
    """The booking if the caller owns it or manages its event's org; else 404."""
    pool = request.app[keys.POOL]
    booking = await bookings_read.get(pool, path_uuid(request, "booking"))
    if booking is None:
        raise NotFound("booking not found")
    user_id = current_user(request).id
    if booking["user_id"] != user_id:
        event = await events.get(pool, booking["event_id"])
        if event is None or await orgs.role_of(pool, event["org_id"], user_id) not in MANAGERS:
            raise NotFound("booking not found")
    return booking


async def get(request: web.Request) -> web.Response:
    return ok(_with_event(await _booking_for(request)))


async def history(request: web.Request) -> web.Response:
    q = query(request, pagination.QUERY)
    booking = await _booking_for(request)
    limit = q.get("limit", pagination.DEFAULT_LIMIT)
    rows = await bookings_read.history(request.app[keys.POOL], booking["id"],
                                       pagination.decode_int(q.get("cursor")), limit)
    result = pagination.page(rows, limit, lambda r: (r["id"],))
    return ok({**result, "items": [{"action": r["action"], "details": r["details"], "created_at": r["created_at"]}
                                   for r in result["items"]]})


async def cancel(request: web.Request) -> web.Response:
    await json_body(request, {})
    booking = await _booking_for(request)
    await engine.send(request, CancelBooking(event_id=booking["event_id"], booking_id=booking["id"],
                                             actor_id=current_user(request).id))
    row = await bookings_read.get(request.app[keys.POOL], booking["id"])
    if row is None:  # read just above; bookings are never deleted
        raise NotFound("booking not found")
    return ok(_with_event(row))


async def list_mine(request: web.Request) -> web.Response:
    q = query(request, MINE_QUERY)
    pool, user_id = request.app[keys.POOL], current_user(request).id
    return ok(await pagination.time_page(
        q, lambda after, limit: bookings_read.list_for_user(pool, user_id, after, limit, event_id=q.get("event"),
                                                            status=q.get("status")), _with_event))


def _org(request: web.Request) -> UUID | None:
    return path_uuid(request, "org") if "org" in request.match_info else None


async def list_for_event(request: web.Request) -> web.Response:
    event_id, org_id = path_uuid(request, "event"), _org(request)
    q = query(request, STATUS_QUERY)
    await visible_event(request, event_id, manage=True, org_id=org_id)
    pool = request.app[keys.POOL]
    return ok(await pagination.time_page(
        q, lambda after, limit: bookings_read.list_for_event(pool, event_id, q.get("status"), after, limit),
        _with_booker))


async def waitlist(request: web.Request) -> web.Response:
    event_id, org_id = path_uuid(request, "event"), _org(request)
    q = query(request, pagination.QUERY)
    await visible_event(request, event_id, manage=True, org_id=org_id)
    limit = q.get("limit", pagination.DEFAULT_LIMIT)
    rows = await bookings_read.waitlist(request.app[keys.POOL], event_id,
                                        pagination.decode_int(q.get("cursor")), limit)
    result = pagination.page(rows, limit, lambda r: (r["waiting_number"],))
    return ok({**result, "items": [_with_booker(r) for r in result["items"]]})
