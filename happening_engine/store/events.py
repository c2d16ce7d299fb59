"""Events as the API reads them (seat counters kept by the event's actor), and the draft insert.

Every other change to an event (publish, update, cancel) goes through the engine's actor.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from ..values import rfc3339
from . import Conn, Executor, audit

PUBLISHED = ("upcoming", "ongoing", "completed")
SELECT = """
select e.id, e.org_id, e.name, e.description, e.category, e.status, e.starts_at, e.ends_at,
       e.total_slots, e.total_slots - e.confirmed_seats as available_slots,
       e.waiting_count as waitlist_length, e.max_seats_per_booking, e.visibility,
       e.published_at, e.cancelled_at, e.created_at, e.updated_at, o.name as org_name
from events e join organizations o on o.id = e.org_id
"""


async def get(db: Executor, event_id: UUID) -> asyncpg.Record | None:
    return await db.fetchrow(SELECT + " where e.id = $1", event_id)


async def create_draft(conn: Conn, org_id: UUID, actor_id: UUID,
                       fields: dict[str, Any]) -> UUID:
    event_id: UUID = await conn.fetchval(
        "insert into events (org_id, name, description, category, starts_at, ends_at, total_slots,"
        " max_seats_per_booking, visibility, created_by) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " returning id",
        org_id, fields["name"], fields.get("description", ""), fields["category"], fields["starts_at"],
        fields["ends_at"], fields["total_slots"], fields.get("max_seats_per_booking", 10),
        fields.get("visibility", "public"), actor_id)
    # times as the engine writes them in later audit rows (RFC 3339, Z), so before/after compare
    after = {k: (rfc3339(v) if isinstance(v, datetime) else v) for k, v in fields.items()}
    await audit.record(conn, org_id=org_id, actor_id=actor_id, entity="event", entity_id=event_id,
                       action="created", after=after)
    return event_id


async def list_visible(db: Executor, user_id: UUID, *, category: str | None, starts_from: datetime | None,
                       starts_to: datetime | None, org_id: UUID | None, text: str | None = None,
                       after: tuple[datetime, UUID] | None, limit: int) -> list[asyncpg.Record]:
    """Published events the user may see (public, or members-only of an org they belong to);
    `text`: only those whose name contains it, ignoring case."""
    return await db.fetch(
        SELECT + """
        where e.status = any($2::text[])
          and (e.visibility = 'public'
               or e.org_id in (select org_id from organization_users where user_id = $1))
          and ($3::text is null or e.category = $3)
          and ($4::timestamptz is null or e.starts_at >= $4)
          and ($5::timestamptz is null or e.starts_at < $5)
          and ($6::uuid is null or e.org_id = $6)
          and ($7::timestamptz is null or (e.starts_at, e.id) > ($7, $8))
          and ($10::text is null or strpos(lower(e.name), lower($10)) > 0)
        order by e.starts_at, e.id limit $9""",
        user_id, list(PUBLISHED), category, starts_from, starts_to, org_id,
        after[0] if after else None, after[1] if after else None, limit + 1, text)


async def list_for_org(db: Executor, org_id: UUID, *, include_drafts: bool,
                       after: tuple[datetime, UUID] | None, limit: int) -> list[asyncpg.Record]:
    """An org's events for its members; never-published ones only when `include_drafts` (organizers)."""
    return await db.fetch(
        SELECT + """
        where e.org_id = $1 and ($2 or e.published_at is not null)
          and ($3::timestamptz is null or (e.starts_at, e.id) > ($3, $4))
        order by e.starts_at, e.id limit $5""",
        org_id, include_drafts, after[0] if after else None, after[1] if after else None, limit + 1)


def may_see(event: asyncpg.Record, role: str | None) -> bool:
    """Drafts (and events cancelled before they were ever published): the org's organizers and
    orgAdmins; members-only: the org's members; else anyone."""
    if event["status"] == "draft" or event["published_at"] is None:
        return role in ("organizer", "orgAdmin")
    if event["visibility"] == "members":
        return role is not None
    return True
