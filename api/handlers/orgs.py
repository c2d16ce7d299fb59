"""Organizations and their members."""
from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from happening_engine.errors import InvalidInput, NotFound
from happening_engine.store import orgs, users

from .. import keys, pagination
from ..auth import current_user
from ..permissions import org_role
from ..ratelimit import take_org_creation
from ..responses import ok
from ..validation import Field, json_body, path_uuid, query

ORG_BODY = {"name": Field("str", required=True, min=1, max=200)}
ROLE_BODY = {"role": Field("enum", required=True, choices=("orgAdmin", "organizer", "user"))}


def org_json(row: asyncpg.Record) -> dict[str, Any]:
    out = {"id": row["id"], "name": row["name"], "created_at": row["created_at"]}
    if "role" in row.keys():
        out["role"] = row["role"]
    return out


def member_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"user_id": row["user_id"], "email": row["email"], "full_name": row["full_name"],
            "role": row["role"], "joined_at": row["created_at"]}


async def create(request: web.Request) -> web.Response:
    body = await json_body(request, ORG_BODY)
    name = _name(body)
    await take_org_creation(request, current_user(request).id)
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        org = await users.create_org(conn, name, current_user(request).id)
    return ok({**org_json(org), "role": "orgAdmin"}, status=201)


async def list_mine(request: web.Request) -> web.Response:
    q = query(request, pagination.QUERY)
    pool, user_id = request.app[keys.POOL], current_user(request).id
    return ok(await pagination.time_page(
        q, lambda after, limit: orgs.list_for_user(pool, user_id, after, limit), org_json))


async def get(request: web.Request) -> web.Response:
    org_id = path_uuid(request, "org")
    role = await org_role(request, org_id)
    org = await orgs.get(request.app[keys.POOL], org_id)
    if org is None:
        raise NotFound("organization not found")
    return ok({**org_json(org), "role": role})


def _name(body: dict[str, Any]) -> str:
    name = str(body["name"]).strip()
    if not name:
        raise InvalidInput("name must not be blank", field="name")
    return name


async def rename(request: web.Request) -> web.Response:
    org_id = path_uuid(request, "org")
    body = await json_body(request, ORG_BODY)
    await org_role(request, org_id, "orgAdmin")
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        org = await orgs.rename(conn, org_id, _name(body), current_user(request).id)
    return ok({**org_json(org), "role": "orgAdmin"})


async def list_members(request: web.Request) -> web.Response:
    org_id = path_uuid(request, "org")
    q = query(request, pagination.QUERY)
    await org_role(request, org_id, "orgAdmin")
    pool = request.app[keys.POOL]
    return ok(await pagination.time_page(
        q, lambda after, limit: orgs.members(pool, org_id, after, limit), member_json, ident="user_id"))


async def change_role(request: web.Request) -> web.Response:
    org_id, user_id = path_uuid(request, "org"), path_uuid(request, "user")
    body = await json_body(request, ROLE_BODY)
    await org_role(request, org_id, "orgAdmin")
    pool = request.app[keys.POOL]
    async with pool.acquire() as conn, conn.transaction():
        await orgs.change_role(conn, org_id, user_id, body["role"], current_user(request).id)
        row = await orgs.member(conn, org_id, user_id)
    assert row is not None, "change_role raised NotFound unless the member exists, in this transaction"
    return ok(member_json(row))


async def remove_member(request: web.Request) -> web.Response:
    org_id, user_id = path_uuid(request, "org"), path_uuid(request, "user")
    await org_role(request, org_id, "orgAdmin")
    async with request.app[keys.POOL].acquire() as conn, conn.transaction():
        await orgs.remove(conn, org_id, user_id, current_user(request).id)
    return web.Response(status=204)
