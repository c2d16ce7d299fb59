"""Notifications as their recipient reads them (rows are written by the engine and the invite flow)."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from . import Executor


async def list_for_user(db: Executor, user_id: UUID,
                        after: tuple[datetime, UUID] | None, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(
        "select id, type, status, channel, delivered_via, message, event_id, booking_id, org_id, attempts, sent_at,"
        " created_at from notifications where user_id = $1"
        " and ($2::timestamptz is null or (created_at, id) < ($2, $3))"
        " order by created_at desc, id desc limit $4",
        user_id, after[0] if after else None, after[1] if after else None, limit + 1)
