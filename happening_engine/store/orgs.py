"""Organizations and memberships: raw SQL; role changes keep at least one orgAdmin per org."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from ..errors import Conflict, NotFound
from . import Conn, Executor, audit

ORG_COLUMNS = "o.id, o.name, o.created_at"
MEMBER_SELECT = """
select m.user_id, u.email, u.full_name, m.role, m.created_at from organization_users m
join users u on u.id = m.user_id where m.org_id = $1
"""


async def role_of(db: Executor, org_id: UUID, user_id: UUID) -> str | None:
    """The caller's role in the org, read from PostgreSQL on every request (None: not a member)."""
    role: str | None = await db.fetchval(
        "select role from organization_users where org_id = $1 and user_id = $2", org_id, user_id)
    return role


async def get(db: Executor, org_id: UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"select {ORG_COLUMNS} from organizations o where o.id = $1", org_id)


async def list_for_user(db: Executor, user_id: UUID, after: tuple[datetime, UUID] | None,
                        limit: int) -> list[asyncpg.Record]:
    return await db.fetch(
        f"select {ORG_COLUMNS}, m.role from organizations o join organization_users m on m.org_id = o.id"
        " where m.user_id = $1 and ($2::timestamptz is null or (o.created_at, o.id) > ($2, $3))"
        " order by o.created_at, o.id limit $4",
        user_id, after[0] if after else None, after[1] if after else None, limit + 1)


async def rename(conn: Conn, org_id: UUID, name: str, actor_id: UUID) -> asyncpg.Record:
    before = await conn.fetchval("select name from organizations where id = $1 for update", org_id)
    if before is None:
        raise NotFound("organization not found")
    row = await conn.fetchrow(
        "update organizations o set name = $2 where id = $1 returning " + ORG_COLUMNS, org_id, name)
    assert row is not None, "the row is locked FOR UPDATE above, so the UPDATE finds it"
    if before != name:
        await audit.record(conn, org_id=org_id, actor_id=actor_id, entity="organization", entity_id=org_id,
                           action="renamed", before={"name": before}, after={"name": name})
    return row


async def members(db: Executor, org_id: UUID, after: tuple[datetime, UUID] | None,
                  limit: int) -> list[asyncpg.Record]:
    return await db.fetch(
        MEMBER_SELECT + " and ($2::timestamptz is null or (m.created_at, m.user_id) > ($2, $3))"
        " order by m.created_at, m.user_id limit $4",
        org_id, after[0] if after else None, after[1] if after else None, limit + 1)


async def member(db: Executor, org_id: UUID, user_id: UUID) -> asyncpg.Record | None:
    return await db.fetchrow(MEMBER_SELECT + " and m.user_id = $2", org_id, user_id)


async def _lock_for_admin_change(conn: Conn, org_id: UUID, user_id: UUID) -> str:
    """Lock the org row (serialising admin changes), then return the member's current role."""
    await conn.execute("select 1 from organizations where id = $1 for update", org_id)
    role = await conn.fetchval(
        "select role from organization_users where org_id = $1 and user_id = $2", org_id, user_id)
    if role is None:
        raise NotFound("member not found")
    return str(role)


async def _ensure_other_admin(conn: Conn, org_id: UUID, user_id: UUID) -> None:
    others = await conn.fetchval(
        "select count(*) from organization_users where org_id = $1 and role = 'orgAdmin' and user_id <> $2",
        org_id, user_id)
    if others == 0:
        raise Conflict("an organization needs at least one orgAdmin")


async def change_role(conn: Conn, org_id: UUID, user_id: UUID, role: str,
                      actor_id: UUID) -> None:
    before = await _lock_for_admin_change(conn, org_id, user_id)
    if before == role:
        return
    if before == "orgAdmin":
        await _ensure_other_admin(conn, org_id, user_id)
    await conn.execute(
        "update organization_users set role = $3 where org_id = $1 and user_id = $2", org_id, user_id, role)
    await audit.record(conn, org_id=org_id, actor_id=actor_id, entity="membership", entity_id=user_id,
                       action="role_changed", before={"role": before}, after={"role": role})


async def remove(conn: Conn, org_id: UUID, user_id: UUID, actor_id: UUID) -> None:
    before = await _lock_for_admin_change(conn, org_id, user_id)
    if before == "orgAdmin":
        await _ensure_other_admin(conn, org_id, user_id)
    await conn.execute("delete from organization_users where org_id = $1 and user_id = $2", org_id, user_id)
    await audit.record(conn, org_id=org_id, actor_id=actor_id, entity="membership", entity_id=user_id,
                       action="removed", before={"role": before})


async def add_member(conn: Conn, org_id: UUID, user_id: UUID, role: str,
                     actor_id: UUID, via: dict[str, Any] | None = None) -> bool:
    """Add a membership; False if the user already belongs to the org."""
    added = await conn.fetchval(
        "insert into organization_users (org_id, user_id, role) values ($1, $2, $3)"
        " on conflict do nothing returning true", org_id, user_id, role)
    if added:
        await audit.record(conn, org_id=org_id, actor_id=actor_id, entity="membership", entity_id=user_id,
                           action="added", after={"role": role, **(via or {})})
    return bool(added)
