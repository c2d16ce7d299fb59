"""GET /v1/notifications: the caller's notifications with their delivery status."""
from __future__ import annotations

from aiohttp import web

from happening_engine.store import notifications_read

from .. import keys, pagination
from ..auth import current_user
from ..responses import ok
from ..validation import query

# channel: where the row asked to go; delivered_via: what delivered it (the log when no provider is set)
FIELDS = ("id", "type", "status", "channel", "delivered_via", "message", "event_id", "booking_id", "org_id",
          "attempts", "sent_at", "created_at")


async def list_mine(request: web.Request) -> web.Response:
    q = query(request, pagination.QUERY)
    pool, user_id = request.app[keys.POOL], current_user(request).id
    return ok(await pagination.time_page(
        q, lambda after, limit: notifications_read.list_for_user(pool, user_id, after, limit),
        lambda r: {k: r[k] for k in FIELDS}))
