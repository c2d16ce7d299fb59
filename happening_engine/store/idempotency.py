"""Idempotency keys, scoped to a user: claim before acting, store the response after, release on failure.
A second request waits for the response, replays it, or is 422 for another body; a claim abandoned past
its command's deadline is taken over with the same request id, so a committed booking comes back (201)."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from ..errors import Conflict, InvalidInput
from . import Conn

TTL = "24 hours"
# A claim still without a response after this long was abandoned (its process died mid-request), so
# a retry may take the key over. Callers pass the engine's command deadline plus its grace.
ABANDONED_SECONDS = 60.0
POLL_SECONDS = 0.1
FIELD = "Idempotency-Key"


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


async def claim_waiting(pool: asyncpg.Pool, user_id: UUID, key: str, request_hash: str,
                        abandoned: float = ABANDONED_SECONDS) -> Replay | None:
    """`claim`, but while another request holds the key, wait for its response (or for its claim to be
    abandoned, then take it over) instead of answering 409: a client retrying after a lost answer gets
    the answer. 409 only if the claim is still held after `abandoned` seconds of waiting."""
    give_up = time.monotonic() + abandoned
    while True:
        try:
            return await claim(pool, user_id, key, request_hash, abandoned)
        except InProgress:
            if time.monotonic() > give_up:
                raise
            await asyncio.sleep(POLL_SECONDS)


class InProgress(Conflict):
    """Another request holds this Idempotency-Key and has not answered yet."""


async def claim(pool: asyncpg.Pool, user_id: UUID, key: str, request_hash: str,
                abandoned: float = ABANDONED_SECONDS) -> Replay | None:
    """None: this request owns the key now. A `Replay`: answer with the stored response."""
    async with pool.acquire() as conn, conn.transaction():
        claimed = await conn.fetchval(
            "insert into idempotency_keys (user_id, key, request_hash) values ($1, $2, $3)"
            " on conflict (user_id, key) do update set request_hash = excluded.request_hash,"
            f"  status_code = null, response = null, created_at = now()"
            f"  where idempotency_keys.created_at < now() - interval '{TTL}'"
            f"     or (idempotency_keys.status_code is null"
            f"         and idempotency_keys.created_at < now() - make_interval(secs => $4))"
            " returning true", user_id, key, request_hash, abandoned)
        if claimed:
            return None
        row = await conn.fetchrow(
            "select request_hash, status_code, response from idempotency_keys where user_id = $1 and key = $2",
            user_id, key)
    if row is None:  # released between our insert and select: try once more
        return await claim(pool, user_id, key, request_hash, abandoned)
    if row["request_hash"] != request_hash:
        raise InvalidInput("this Idempotency-Key was used with another request", field=FIELD)
    if row["status_code"] is None:
        raise InProgress("a request with this Idempotency-Key is still in progress")
    return Replay(row["status_code"], row["response"])


async def complete(pool: asyncpg.Pool, user_id: UUID, key: str, status: int, body: dict[str, Any]) -> None:
    await pool.execute(
        "update idempotency_keys set status_code = $3, response = $4 where user_id = $1 and key = $2",
        user_id, key, status, body)


async def release(pool: asyncpg.Pool, user_id: UUID, key: str) -> None:
    """Forget an unfinished claim, so a failed request can be retried with the same key."""
    await pool.execute(
        "delete from idempotency_keys where user_id = $1 and key = $2 and status_code is null", user_id, key)


async def purge_expired(conn: Conn) -> int:
    """Delete keys past their 24 hours (the lifecycle clock calls this), so the table stays small."""
    status = await conn.execute(f"delete from idempotency_keys where created_at < now() - interval '{TTL}'")
    return int(status.split()[-1])
