"""Rows per table, to show that a refused request wrote nothing."""
from __future__ import annotations

import asyncpg

TABLES = ("organizations", "organization_users", "events", "org_invites", "bookings", "audit_log",
          "notifications", "idempotency_keys")


async def row_counts(pool: asyncpg.Pool) -> dict[str, int]:
    return {t: await pool.fetchval(f"select count(*) from {t}") for t in TABLES}
