"""Values as the engine writes them into replies, history and audit rows: RFC 3339 UTC times ending in
`Z`, UUIDs as strings, everything else as it is; and the errors a storage call may raise."""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from redis.exceptions import RedisError

# What a call to PostgreSQL or Redis may raise when the service is down or slow: a 503, never a 500.
STORAGE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, RedisError, asyncio.TimeoutError)


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, UUID):
        return str(value)
    return value
