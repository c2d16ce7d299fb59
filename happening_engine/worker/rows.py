"""The worker's SQL: claim many jobs' rows in one statement (a `pending` row not held: one more attempt, held
for the lease), record many outcomes in another (`sent`, `failed`, or `released` for a retry; audit rows
of `sent` and `failed` in the same statement)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from ..store import Conn

CLAIM_MANY = """
with claimed as (
    update notifications
    set attempts = attempts + 1, claimed_until = now() + make_interval(secs => $2)
    where id = any($1::uuid[]) and status = 'pending' and (claimed_until is null or claimed_until < now())
    returning *
)
select c.*, e.name as event_name, e.starts_at as event_starts_at, o.name as org_name,
       u.full_name as user_name, coalesce(c.recipient, u.email) as send_to
from claimed c
left join events e on e.id = c.event_id
left join organizations o on o.id = coalesce(c.org_id, e.org_id)
left join users u on u.id = c.user_id
"""
STATUSES = "select id, status from notifications where id = any($1::uuid[])"
# Outcomes and their audit rows (for `sent` and `failed`) in one statement: one round trip, atomic.
RECORD_MANY = """
with recorded as (
    update notifications n
    set status = case when o.outcome = 'released' then n.status else o.outcome end,
        sent_at = case when o.outcome = 'sent' then now() else n.sent_at end,
        claimed_until = null,
        last_error = case when o.outcome = 'sent' then null else o.value end,
        delivered_via = case when o.outcome = 'sent' then o.value else n.delivered_via end
    from unnest($1::uuid[], $2::text[], $3::text[]) with ordinality as o(id, outcome, value, ord)
    where n.id = o.id and n.status = 'pending'
    returning n.id, o.outcome, o.value, o.ord, n.org_id, n.user_id, n.type, n.attempts
), audited as (
    insert into audit_log (org_id, actor_id, entity, entity_id, action, before, after)
    select org_id, null, 'notification', id, outcome, '{"status": "pending"}'::jsonb,
           jsonb_build_object('status', outcome, case outcome when 'sent' then 'channel' else 'error' end, value,
                              'type', type, 'attempts', attempts, 'user_id', user_id::text)
    from recorded
    where outcome in ('sent', 'failed')
    order by ord
)
select count(*) from recorded
"""


@dataclass(frozen=True)
class Outcome:
    id: uuid.UUID
    outcome: str  # sent, failed, released
    value: str


async def claim_many(pool: asyncpg.Pool, ids: list[uuid.UUID], lease_seconds: float
                     ) -> list[asyncpg.Record | str | None]:
    """Per id: its claimed row (joined with event, org and user names), else the row's status
    (`pending`: another delivery holds it; `sent`, `failed`), else None (no such row)."""
    async with pool.acquire() as conn:
        claimed = {r["id"]: r for r in await conn.fetch(CLAIM_MANY, ids, lease_seconds)}
        others = [i for i in set(ids) if i not in claimed]
        statuses: dict[uuid.UUID, str] = (
            {r["id"]: r["status"] for r in await conn.fetch(STATUSES, others)} if others else {})
    out: list[asyncpg.Record | str | None] = []
    handed: set[uuid.UUID] = set()
    for nid in ids:
        if nid not in claimed:
            out.append(statuses.get(nid))
        elif nid in handed:  # a second copy of a job claimed in this batch: the first holds the row
            out.append("pending")
        else:
            handed.add(nid)
            out.append(claimed[nid])
    return out


async def record_outcomes(conn: Conn, outcomes: list[Outcome]) -> None:
    """Apply every outcome to its still-pending row and audit the status changes: one statement."""
    await conn.fetchval(RECORD_MANY, [o.id for o in outcomes], [o.outcome for o in outcomes],
                        [o.value for o in outcomes])
