"""Reports for the organizers of an event's org: counts, their timeline, and the bookings as CSV, streamed a
page at a time; a failure half way aborts the connection, so a truncated download never looks complete."""
from __future__ import annotations

import csv
import io
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from aiohttp import web

from happening_engine.errors import NotFound
from happening_engine.store import reports
from happening_engine.values import rfc3339

from .. import keys
from ..permissions import visible_event
from ..responses import ok
from ..validation import path_uuid, query

log = structlog.get_logger(__name__)
CSV_HEADER = ("id", "email", "full_name", "seats", "status", "waiting_number", "created_at", "updated_at")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


async def _managed_event(request: web.Request) -> asyncpg.Record:
    """The event if the caller organizes its org: another tenant gets 404 (even for a public event),
    a plain member 403 (404 for a draft, which members cannot see)."""
    event_id = path_uuid(request, "event")
    org_id = path_uuid(request, "org") if "org" in request.match_info else None
    query(request, {})
    event, _ = await visible_event(request, event_id, manage=True, org_id=org_id)
    return event


async def stats(request: web.Request) -> web.Response:
    event = await _managed_event(request)
    async with request.app[keys.POOL].acquire() as conn, \
            conn.transaction(isolation="repeatable_read", readonly=True):  # counts and timeline agree
        result = await reports.stats(conn, event["id"])
    if result is None:  # deleted between the two reads
        raise NotFound("event not found")
    return ok(result)


def _text(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    return "'" + value if value.startswith(FORMULA_START) else value


def _csv_line(row: asyncpg.Record) -> tuple[Any, ...]:
    return (row["id"], _text(row["email"]), _text(row["full_name"]), row["seats"], row["status"],
            row["waiting_number"] if row["waiting_number"] is not None else "",
            rfc3339(row["created_at"]), rfc3339(row["updated_at"]))


def _encode(rows: list[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


async def bookings_csv(request: web.Request) -> web.StreamResponse:
    event = await _managed_event(request)
    event_id: UUID = event["id"]
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="event-{event_id}-bookings.csv"'})
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    if request_id:
        response.headers["X-Request-ID"] = request_id
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        await response.write(_encode([CSV_HEADER]))
        async for page in reports.booking_pages(request.app[keys.POOL], event_id):
            await response.write(_encode([_csv_line(r) for r in page]))
        await response.write_eof()
    except ConnectionResetError:
        log.info("csv_export_client_gone", event_id=str(event_id))
    except Exception:
        log.exception("csv_export_failed", event_id=str(event_id))
        if request.transport is not None:
            request.transport.abort()
    return response
