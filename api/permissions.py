"""Role checks, read from PostgreSQL on every request. Another tenant's resource is a 404."""
from __future__ import annotations

from uuid import UUID

import asyncpg
from aiohttp import web

from happening_engine.errors import Forbidden, NotFound
from happening_engine.store import events, orgs

from . import keys
from .auth import current_user

MANAGERS = ("organizer", "orgAdmin")


async def org_role(request: web.Request, org_id: UUID, *allowed: str) -> str:
    """The caller's role in `org_id`: 404 if not a member, 403 if the role is not in `allowed`."""
    role = await orgs.role_of(request.app[keys.POOL], org_id, current_user(request).id)
    if role is None:
        raise NotFound("organization not found")
    if allowed and role not in allowed:
        raise Forbidden(f"requires role {' or '.join(allowed)}")
    return str(role)


async def visible_event(request: web.Request, event_id: UUID, *, manage: bool = False,
                        org_id: UUID | None = None) -> tuple[asyncpg.Record, str | None]:
    """The event if the caller may see it (else 404). Under its organization's path (`org_id`) and
    with `manage`, other tenants get 404; with `manage`, members who are not organizer/orgAdmin get
    403. The role is returned only where it was read (None for a public event seen by anyone)."""
    pool = request.app[keys.POOL]
    event = await events.get(pool, event_id)
    if event is None or (org_id is not None and event["org_id"] != org_id):
        raise NotFound("event not found")
    member_only = manage or org_id is not None  # the org's own paths are for its members
    if not member_only and events.may_see(event, None):
        return event, None  # public and published: anyone may see it, no membership to read
    role = await orgs.role_of(pool, event["org_id"], current_user(request).id)
    if not events.may_see(event, role) or (member_only and role is None):
        raise NotFound("event not found")  # another tenant's: nothing to see, not even that it is forbidden
    if manage and role not in MANAGERS:
        raise Forbidden("requires role organizer or orgAdmin")
    return event, role
