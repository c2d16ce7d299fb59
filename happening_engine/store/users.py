"""Users: lookup by the token's `sub`, and sign-up (user + own organization) on the first request."""
from __future__ import annotations

from uuid import UUID

import asyncpg

from . import Conn, Executor, audit

SELECT_BY_SUB = "select id, email, full_name from users where keycloak_id = $1"
INSERT_USER = """
insert into users (keycloak_id, email, full_name) values ($1, $2, $3)
on conflict (keycloak_id) do nothing
returning id, email, full_name
"""


async def create_org(conn: Conn, name: str, user_id: UUID) -> asyncpg.Record:
    """An organization with `user_id` as its orgAdmin, audited (call inside a transaction)."""
    org = await conn.fetchrow(
        "insert into organizations (name, created_by) values ($1, $2) returning id, name, created_at",
        name, user_id)
    assert org is not None, "an INSERT ... RETURNING returns its row"
    await conn.execute(
        "insert into organization_users (org_id, user_id, role) values ($1, $2, 'orgAdmin')", org["id"], user_id)
    await audit.record(conn, org_id=org["id"], actor_id=user_id, entity="organization", entity_id=org["id"],
                       action="created", after={"name": name})
    await audit.record(conn, org_id=org["id"], actor_id=user_id, entity="membership", entity_id=user_id,
                       action="added", after={"role": "orgAdmin"})
    return org


async def get_or_sign_up(pool: asyncpg.Pool, sub: str, email: str, full_name: str) -> asyncpg.Record:
    """The user for `sub`; on the first request, create it and its organization in one transaction (a racing
    second insert waits on the unique index, then reads the row the first one committed)."""
    row = await pool.fetchrow(SELECT_BY_SUB, sub)
    if row is not None:
        return row
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(INSERT_USER, sub, email, full_name)
        if row is None:
            row = await conn.fetchrow(SELECT_BY_SUB, sub)
            assert row is not None
            return row
        display = full_name or email.split("@")[0]
        await create_org(conn, f"{display}'s organization"[:200], row["id"])
        return row


async def refresh(pool: asyncpg.Pool, user_id: UUID, email: str, full_name: str) -> asyncpg.Record:
    """Take the email and name the latest verified token vouches for."""
    row = await pool.fetchrow("update users set email = $2, full_name = $3, updated_at = now() where id = $1"
                              " returning id, email, full_name", user_id, email, full_name)
    assert row is not None
    return row


async def get(pool: Executor, user_id: UUID) -> asyncpg.Record | None:
    return await pool.fetchrow("select id, email, full_name, created_at from users where id = $1", user_id)


async def memberships(pool: Executor, user_id: UUID) -> list[asyncpg.Record]:
    return await pool.fetch(
        "select m.org_id, o.name as org_name, m.role from organization_users m"
        " join organizations o on o.id = m.org_id where m.user_id = $1 order by o.created_at, o.id", user_id)
