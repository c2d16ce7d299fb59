"""JSON responses: RFC 3339 UTC times and UUIDs as strings."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from aiohttp import web

from happening_engine.values import rfc3339

# Datetimes go through rfc3339 (UTC, "Z"), whatever zone they carry; keys are made strings like the
# json module does. UUIDs orjson writes itself, in the same form as str().
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _encode(data: Any) -> bytes:
    return orjson.dumps(data, default=_default, option=_OPTIONS)


def dumps(data: Any) -> str:
    return _encode(data).decode()


def ok(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encode(data), status=status, content_type="application/json", charset="utf-8")
