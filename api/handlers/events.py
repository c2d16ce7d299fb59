"""Events: create a draft (plain SQL), read and list; update, publish and cancel via the engine."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from happening_engine.commands import CancelEvent, PublishEvent, UpdateEvent
from happening_engine.errors import InvalidInput, NotFound
from happening_engine.store import events
from happening_engine.values import rfc3339

from .. import engine, keys, pagination
from ..auth import current_user
from ..permissions import MANAGERS, org_role, visible_event
from ..responses import ok
from ..validation import Field, json_body, path_uuid, query

FIELDS = {
    "name": Field("str", min=1, max=200),
    "description": Field("str", max=10_000, multiline=True),
    "category": Field("enum", choices=("concert", "webinar", "hackathon")),
    "starts_at": Field("datetime"),
    "ends_at": Field("datetime"),
    "total_slots": Field("int", min=1, max=1_000_000),
    "max_seats_per_booking": Field("int", min=1, max=10_000),
    "visibility": Field("enum", choices=("public", "members")),
}
REQUIRED = ("name", "category", "starts_at", "ends_at", "total_slots")
CREATE_BODY = {k: dataclasses.replace(f, required=k in REQUIRED) for k, f in FIELDS.items()}
LIST_QUERY = {**pagination.QUERY, "category": FIELDS["category"], "from": Field("datetime"),
              "to": Field("datetime"), "org": Field("uuid"), "q": Field("str", min=1, max=200)}
COLUMNS = ("id", "org_id", "name", "description", "category", "status", "starts_at", "ends_at", "total_slots",
           "available_slots", "waitlist_length", "max_seats_per_booking", "visibility", "published_at",
           "cancelled_at", "created_at", "updated_at", "org_name")


def event_json(row: asyncpg.Record) -> dict[str, Any]:
    return {name: row[name] for name in COLUMNS}


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")


async def _reread(request: web.Request, event_id: Any) -> web.Response:
    row = await events.get(request.app[keys.POOL], event_id)
    if row is None:
        raise NotFound("event not found")
    return ok(event_json(row))


async def create(request: web.Request) -> web.Response:
    org_id = path_uuid(request, "org")
    body = await json_body(request, CREATE_BODY)
    _check_times(body["starts_at"], body["ends_at"])
    if body["starts_at"] <= datetime.now(UTC):
        raise InvalidInput("starts_at must be in the future", field="starts_at")
    await org_role(request, org_id, *MANAGERS)
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        event_id = await events.create_draft(conn, org_id, current_user(request).id, body)
    row = await events.get(request.app[keys.POOL], event_id)
    if row is None:  # committed above; events are never deleted
        raise NotFound("event not found")
    return ok(event_json(row), status=201)


async def get(request: web.Request) -> web.Response:
    event, _ = await visible_event(request, path_uuid(request, "event"), org_id=_org(request))
    return ok(event_json(event))


def _org(request: web.Request) -> Any:
    return path_uuid(request, "org") if "org" in request.match_info else None


async def update(request: web.Request) -> web.Response:
    event_id, org_id = path_uuid(request, "event"), _org(request)
    body = await json_body(request, FIELDS)
    if not body:
        raise InvalidInput("nothing to change", field="body")
    event, _ = await visible_event(request, event_id, manage=True, org_id=org_id)
    _check_times(body.get("starts_at", event["starts_at"]), body.get("ends_at", event["ends_at"]))
    if "starts_at" in body and body["starts_at"] <= datetime.now(UTC):
        raise InvalidInput("starts_at must be in the future", field="starts_at")
    changes = {k: rfc3339(v) if isinstance(v, datetime) else v for k, v in body.items()}
    await engine.send(request, UpdateEvent(event_id=event_id, changes=changes, actor_id=current_user(request).id))
    return await _reread(request, event_id)


async def _lifecycle_command(request: web.Request, command: type[PublishEvent] | type[CancelEvent]) -> web.Response:
    event_id = path_uuid(request, "event")
    await json_body(request, {})
    await visible_event(request, event_id, manage=True, org_id=_org(request))
    await engine.send(request, command(event_id=event_id, actor_id=current_user(request).id))
    return await _reread(request, event_id)


async def publish(request: web.Request) -> web.Response:
    return await _lifecycle_command(request, PublishEvent)


async def cancel(request: web.Request) -> web.Response:
    return await _lifecycle_command(request, CancelEvent)


async def list_visible(request: web.Request) -> web.Response:
    q = query(request, LIST_QUERY)
    pool, user_id = request.app[keys.POOL], current_user(request).id
    return ok(await pagination.time_page(
        q, lambda after, limit: events.list_visible(
            pool, user_id, category=q.get("category"), starts_from=q.get("from"), starts_to=q.get("to"),
            org_id=q.get("org"), text=q.get("q"), after=after, limit=limit),
        event_json, time="starts_at"))


async def list_for_org(request: web.Request) -> web.Response:
    org_id = path_uuid(request, "org")
    q = query(request, pagination.QUERY)
    role = await org_role(request, org_id)
    pool = request.app[keys.POOL]
    return ok(await pagination.time_page(
        q, lambda after, limit: events.list_for_org(pool, org_id, include_drafts=role in MANAGERS, after=after,
                                                    limit=limit),
        event_json, time="starts_at"))
