"""Invites: create (token returned once, emailed as `org_invite`), list, revoke, preview, accept."""
from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web

from happening_engine.errors import InvalidInput
from happening_engine.sealed import Sealer
from happening_engine.store import invites

from .. import keys, pagination
from ..auth import current_user
from ..permissions import org_role
from ..ratelimit import take_invite
from ..responses import ok
from ..validation import Field, json_body, path_uuid, query

INVITE_BODY = {"email": Field("email", required=True), "role": Field("enum", required=True,
                                                                     choices=("organizer", "user"))}


def invite_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "org_id": row["org_id"], "email": row["email"], "role": row["role"],
            "status": row["status"], "expires_at": row["expires_at"], "created_at": row["created_at"]}


async def expire_due(request: web.Request, *, org_id: UUID | None = None, token: str | None = None) -> None:
    """Record the expiry of invites whose time has passed (in its own transaction: it stands even if
    the request is then refused)."""
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        await invites.expire_due(conn, org_id=org_id, token=token)


async def create(request: web.Request) -> web.Response:
    org_id = path_uuid(request, "org")
    body = await json_body(request, INVITE_BODY)
    await org_role(request, org_id, "orgAdmin")
    await take_invite(request, org_id)
    await expire_due(request, org_id=org_id)  # an expired invite does not block a new one
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        invite, token = await invites.create(conn, org_id, body["email"], body["role"], current_user(request).id,
                                             Sealer(request.app[keys.SETTINGS].notify.invite_keys))
    return ok({**invite_json(invite), "token": token}, status=201)


async def list_for_org(request: web.Request) -> web.Response:
    org_id = path_uuid(request, "org")
    q = query(request, pagination.QUERY)
    await org_role(request, org_id, "orgAdmin")
    await expire_due(request, org_id=org_id)
    pool = request.app[keys.POOL]
    return ok(await pagination.time_page(
        q, lambda after, limit: invites.list_for_org(pool, org_id, after, limit), invite_json))


async def revoke(request: web.Request) -> web.Response:
    org_id, invite_id = path_uuid(request, "org"), path_uuid(request, "invite")
    await org_role(request, org_id, "orgAdmin")
    await expire_due(request, org_id=org_id)  # an expired invite is not revoked: 409
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        await invites.revoke(conn, org_id, invite_id, current_user(request).id)
    return web.Response(status=204)


def _token(request: web.Request) -> str:
    token = request.match_info["token"]
    if not 10 <= len(token) <= 200:
        raise InvalidInput("token is malformed", field="token")
    return token


async def preview(request: web.Request) -> web.Response:
    """What accepting would do (organization, role), shown to the invited person before they accept."""
    token = _token(request)
    query(request, {})
    user = current_user(request)
    await expire_due(request, token=token)
    invite = await invites.preview(request.app[keys.POOL], token, user.token_email, user.email_verified)
    return ok({name: invite[name] for name in ("org_id", "org_name", "role", "email", "status", "expires_at")})


async def accept(request: web.Request) -> web.Response:
    token = _token(request)
    await json_body(request, {})
    user = current_user(request)
    await expire_due(request, token=token)
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        invite = await invites.accept(conn, token, user.id, user.token_email, user.email_verified)
    return ok({"org_id": invite["org_id"], "role": invite["role"], "invite_id": invite["id"]})
