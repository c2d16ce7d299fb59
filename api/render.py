"""JSON responses: RFC 3339 UTC times and UUIDs as strings."""
from __future__ import annotations

import json
from datetime import datetime, UTC
from typing import Any
from uuid import UUID

from aiohttp import web


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(data: Any) -> str:
    return json.dumps(data, default=_default)


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def plain(data: Any) -> Any:
    """`data` with datetimes and UUIDs turned into JSON-ready strings."""
    return json.loads(dumps(data))
