"""JSON responses: RFC 3339 UTC times and UUIDs as strings."""
from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from happening_engine.values import json_default

# Datetimes go through rfc3339 (UTC, "Z"), whatever zone they carry; keys are made strings like the
# json module does. UUIDs orjson writes itself, in the same form as str().
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _encode(data: Any) -> bytes:
    return orjson.dumps(data, default=json_default, option=_OPTIONS)


def dumps(data: Any) -> str:
    return _encode(data).decode()


def ok(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encode(data), status=status, content_type="application/json", charset="utf-8")
