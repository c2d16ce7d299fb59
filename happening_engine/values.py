"""Values as the engine and the API write them into replies, history and audit rows: RFC 3339 UTC times
ending in `Z`, UUIDs as strings, everything else as it is; a booking as the API returns it; and the
errors a storage call may raise."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from redis.exceptions import RedisError

# What a call to PostgreSQL or Redis may raise when the service is down or slow: a 503, never a 500.
STORAGE_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, RedisError, asyncio.TimeoutError)


def rfc3339(value: datetime) -> str:
    """`value` in UTC as RFC 3339 ending in `Z` (with microseconds when it has any)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_value(value: Any) -> Any:
    """`value` as JSON holds it: datetimes by `rfc3339`, UUIDs as strings, the rest unchanged."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, UUID):
        return str(value)
    return value


def json_default(value: Any) -> Any:
    """orjson's `default`: datetimes by `rfc3339`, UUIDs orjson does not take as its own (asyncpg's) as
    strings; anything else is an error."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def booking_json(booking: Mapping[str, Any] | asyncpg.Record) -> dict[str, Any]:
    """A booking as the API returns it (`BOOKING` in api/openapi_schemas.py), from a row or dict holding
    its fields (times as datetimes or already formatted)."""
    return booking_fields(booking["id"], booking["event_id"], booking["user_id"], booking["seats"], booking["status"],
                          booking["waiting_number"], booking["position"], booking["created_at"], booking["updated_at"])


def booking_fields(id: Any, event_id: Any, user_id: Any, seats: int, status: str, waiting_number: int | None,
                   position: int | None, created_at: Any, updated_at: Any) -> dict[str, Any]:
    """`booking_json` from the fields themselves (the engine's replies: no dict made just to be read)."""
    return {"id": str(id), "event_id": str(event_id), "user_id": str(user_id), "seats": seats, "status": status,
            "waiting_number": waiting_number, "position": position, "created_at": json_value(created_at),
            "updated_at": json_value(updated_at)}
