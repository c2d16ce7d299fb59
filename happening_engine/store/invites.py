"""Organization invites: only the token's sha256 is stored; the token travels in the 201 and, sealed, in the
`org_invite` notification. Expiry is lazy: every reader first calls `expire_due`, which re-checks
`pending` under the row lock, so each invite is expired and audited exactly once."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from uuid import UUID

import asyncpg

from ..errors import Conflict, Forbidden, NotFound
from ..sealed import Sealer
from ..values import rfc3339
from . import Conn, Executor, audit, orgs

INVITE_TTL = "7 days"
COLUMNS = """id, org_id, email, role, expires_at, created_at,
case when status = 'pending' and expires_at <= now() then 'expired' else status end as status"""


EXPIRE_DUE = """
update org_invites set status = 'expired'
where status = 'pending' and expires_at <= now()
  and ($1::uuid is null or org_id = $1) and ($2::bytea is null or token_hash = $2)
returning id, org_id, email, role, expires_at
"""


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create(conn: Conn, org_id: UUID, email: str, role: str,
                 actor_id: UUID, sealer: Sealer) -> tuple[asyncpg.Record, str]:
    """Insert the invite and its `org_invite` email; returns (invite, token).

    The email goes to the address invited, never to an account that claims it (which may not have
    proved it); the notice holds the token only sealed (`sealer`), for the worker to build the link."""
    already = await conn.fetchval(
        "select 1 from organization_users m join users u on u.id = m.user_id"
        " where m.org_id = $1 and lower(u.email) = $2", org_id, email)
    if already:
        raise Conflict("this email already belongs to a member")
    token = secrets.token_urlsafe(32)
    try:
        async with conn.transaction():
            invite = await conn.fetchrow(
                f"insert into org_invites (org_id, email, role, token_hash, expires_at, created_by)"
                f" values ($1, $2, $3, $4, now() + interval '{INVITE_TTL}', $5) returning {COLUMNS}",
                org_id, email, role, hash_token(token), actor_id)
    except asyncpg.UniqueViolationError:
        pending = await conn.fetchval("select id from org_invites where org_id = $1 and lower(email) = $2"
                                      " and status = 'pending'", org_id, email)
        raise Conflict("an invite to this email is already pending; revoke it to send another",
                       invite_id=str(pending)) from None
    assert invite is not None, "an INSERT ... RETURNING returns its row"
    org_name = await conn.fetchval("select name from organizations where id = $1", org_id)
    message = f"You are invited to join {org_name} on Happening as {role} (valid 7 days)."
    await conn.execute(
        "insert into notifications (user_id, org_id, type, channel, recipient, message, payload)"
        " values (null, $1, 'org_invite', 'email', $2, $3, $4)",
        org_id, email, message,
        {"invite_id": str(invite["id"]), "org_name": org_name, "role": role, "token_sealed": sealer.seal(token)})
    await audit.record(conn, org_id=org_id, actor_id=actor_id, entity="invite", entity_id=invite["id"],
                       action="created", after={"email": email, "role": role})
    return invite, token


async def expire_due(conn: Conn, *, org_id: UUID | None = None, token: str | None = None) -> int:
    """Mark pending invites past their expiry `expired` (of one org, one token, or all), one audit
    row each with no actor (time did it); returns how many. Run it in a transaction of its own, so
    that a refusal later in the request does not roll the expiry back."""
    rows = await conn.fetch(EXPIRE_DUE, org_id, hash_token(token) if token is not None else None)
    await audit.record_many(conn, [
        (r["org_id"], None, "invite", r["id"], "expired", {"status": "pending"},
         {"status": "expired", "email": r["email"], "role": r["role"],
          "expires_at": rfc3339(r["expires_at"])})
        for r in rows])
    return len(rows)


async def list_for_org(db: Executor, org_id: UUID,
                       after: tuple[datetime, UUID] | None, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(
        f"select {COLUMNS} from org_invites where org_id = $1"
        " and ($2::timestamptz is null or (created_at, id) < ($2, $3))"
        " order by created_at desc, id desc limit $4",
        org_id, after[0] if after else None, after[1] if after else None, limit + 1)


async def revoke(conn: Conn, org_id: UUID, invite_id: UUID, actor_id: UUID) -> None:
    status = await conn.fetchval(
        "select status from org_invites where id = $1 and org_id = $2 for update", invite_id, org_id)
    if status is None:
        raise NotFound("invite not found")
    if status != "pending":
        raise Conflict(f"invite is already {status}")
    await conn.execute("update org_invites set status = 'revoked' where id = $1", invite_id)
    await audit.record(conn, org_id=org_id, actor_id=actor_id, entity="invite", entity_id=invite_id,
                       action="revoked", before={"status": "pending"}, after={"status": "revoked"})


async def preview(db: Executor, token: str, email: str,
                  email_verified: bool) -> asyncpg.Record:
    """The invite with its organization's name, for the invited person only: an unknown token and
    another (or unverified) email are both 404, so a token found elsewhere tells a stranger nothing."""
    invite = await db.fetchrow(
        "select i.org_id, o.name as org_name, i.email, i.role, i.expires_at,"
        " case when i.status = 'pending' and i.expires_at <= now() then 'expired' else i.status end as status"
        " from org_invites i join organizations o on o.id = i.org_id where i.token_hash = $1", hash_token(token))
    if invite is None or not email_verified or invite["email"].lower() != email.lower():
        raise NotFound("invite not found")
    return invite


async def accept(conn: Conn, token: str, user_id: UUID, email: str,
                 email_verified: bool) -> asyncpg.Record:
    """Join the org with the invited role; single use; the caller's verified email must match."""
    invite = await conn.fetchrow(
        "select id, org_id, email, role, status, expires_at <= now() as expired from org_invites"
        " where token_hash = $1 for update", hash_token(token))
    if invite is None:
        raise NotFound("invite not found")
    if not email_verified or invite["email"].lower() != email.lower():
        raise Forbidden("this invite was sent to another email address")
    if invite["status"] != "pending":
        raise Conflict(f"invite is already {invite['status']}")
    if invite["expired"]:
        raise Conflict("invite has expired")
    if not await orgs.add_member(conn, invite["org_id"], user_id, invite["role"], user_id,
                                 via={"invite_id": str(invite["id"])}):
        raise Conflict("you are already a member of this organization")
    await conn.execute(
        "update org_invites set status = 'accepted', accepted_by = $2, accepted_at = now() where id = $1",
        invite["id"], user_id)
    await audit.record(conn, org_id=invite["org_id"], actor_id=user_id, entity="invite",
                       entity_id=invite["id"], action="accepted", before={"status": "pending"},
                       after={"status": "accepted", "user_id": str(user_id)})
    return invite
