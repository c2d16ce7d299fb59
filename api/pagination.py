"""Cursor pagination: opaque base64url cursors over a sort key, `limit` 1-200 (default 50)."""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from happening_engine.errors import InvalidInput

from .validation import Field

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # a PostgreSQL bigint: cursors past it never reach SQL
QUERY = {"limit": Field("int", min=1, max=MAX_LIMIT), "cursor": Field("str", min=1, max=500)}


def encode(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([str(v) if not isinstance(v, int) else v
                                                for v in values]).encode()).decode().rstrip("=")


def decode(cursor: str | None, arity: int) -> list[Any] | None:
    """The values packed by `encode`, or None for the first page; 422 for anything malformed."""
    if cursor is None:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("cursor is malformed", field="cursor") from None
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidInput("cursor is malformed", field="cursor")
    return values


def page(rows: list[Any], limit: int, key: Any) -> dict[str, Any]:
    """`{"items", "next_cursor"}` from `limit + 1` fetched rows; `key(row)` gives the cursor values."""
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next_cursor": encode(*key(rows[-1])) if more and rows else None}


async def time_page(q: dict[str, Any], fetch: Callable[[tuple[Any, Any] | None, int], Awaitable[list[Any]]],
                    render: Callable[[Any], Any], time: str = "created_at", ident: str = "id") -> dict[str, Any]:
    """One page of a list sorted by `(time, ident)`: `fetch(after, limit)` returns up to limit + 1 rows
    after the cursor's position; each item is `render(row)`."""
    limit = q.get("limit", DEFAULT_LIMIT)
    rows = await fetch(decode_time_id(q.get("cursor")), limit)
    result = page(rows, limit, lambda r: (r[time].isoformat(), r[ident]))
    return {**result, "items": [render(r) for r in result["items"]]}


def decode_time_id(cursor: str | None) -> tuple[Any, Any] | None:
    """A `(timestamp, uuid)` cursor, parsed."""
    from .validation import parse_datetime, parse_uuid

    values = decode(cursor, 2)
    if values is None:
        return None
    try:
        return parse_datetime("cursor", values[0]), parse_uuid("cursor", values[1])
    except InvalidInput:
        raise InvalidInput("cursor is malformed", field="cursor") from None


def decode_int(cursor: str | None) -> int | None:
    values = decode(cursor, 1)
    if values is None:
        return None
    if isinstance(values[0], bool) or not isinstance(values[0], int) or not INT64_MIN <= values[0] <= INT64_MAX:
        raise InvalidInput("cursor is malformed", field="cursor")
    return values[0]
