"""Every pooled PostgreSQL connection bounds lock waits and idle transactions, so no lock chain across
processes can wedge an engine for good."""
from __future__ import annotations


async def test_pool_connections_bound_lock_waits_and_idle_transactions(pool) -> None:
    async with pool.acquire() as conn:
        assert await conn.fetchval("show lock_timeout") == "5s"
        assert await conn.fetchval("show idle_in_transaction_session_timeout") == "10s"
