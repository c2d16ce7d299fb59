"""Migrations apply on an empty database, again as a no-op, and concurrently to one schema."""
from __future__ import annotations

import asyncio
import uuid

import asyncpg

from happening_engine.constants import SQL_DIR
from happening_engine.db import migrate
from loadtests.throwaway import create_database, drop_database


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("select tablename from pg_tables where schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_migrations_apply_then_noop() -> None:
    name = f"happening_mig_{uuid.uuid4().hex[:8]}"
    url = await create_database(name)  # applies everything
    try:
        versions = sorted(p.stem for p in SQL_DIR.glob("[0-9]*.sql"))
        assert await migrate(url) == []
        conn = await asyncpg.connect(url)
        try:
            recorded = [r["version"] for r in await conn.fetch("select version from schema_migrations order by 1")]
        finally:
            await conn.close()
        assert recorded == versions
        assert {"users", "organizations", "organization_users", "events", "bookings", "booking_history",
                "notifications", "org_invites", "idempotency_keys", "audit_log"} <= await _tables(url)
    finally:
        await drop_database(name)


async def test_concurrent_migrators_end_with_one_schema() -> None:
    name = f"happening_mig_{uuid.uuid4().hex[:8]}"
    url = await create_database(name, migrated=False)
    try:
        results = await asyncio.gather(*(migrate(url) for _ in range(4)))
        applied = [v for r in results for v in r]
        assert sorted(applied) == sorted(p.stem for p in SQL_DIR.glob("[0-9]*.sql"))  # each once
        assert "bookings" in await _tables(url)
    finally:
        await drop_database(name)
