"""GET /v1/notifications: the caller's notifications with their delivery status."""
from __future__ import annotations

from aiohttp import web

from happening_engine.store import notifications_read

from .. import keys, pagination
from ..auth import current_user
from ..render import ok
from ..validation import query

FIELDS = ("id", "type", "status", "channel", "message", "event_id", "booking_id", "org_id", "attempts",
          "sent_at", "created_at")


async def list_mine(request: web.Request) -> web.Response:
    q = query(request, pagination.QUERY)
    limit = q.get("limit", pagination.DEFAULT_LIMIT)
    rows = await notifications_read.list_for_user(request.app[keys.POOL], current_user(request).id,
                                                  pagination.decode_time_id(q.get("cursor")), limit)
    result = pagination.page(rows, limit, lambda r: (r["created_at"].isoformat(), r["id"]))
    return ok({**result, "items": [{k: r[k] for k in FIELDS} for r in result["items"]]})
