"""GET /v1/organizations/{org}/audit-log (orgAdmin): filters entity, actor, from, to; newest first,
paged by the row id (a cursor is stable while new rows arrive)."""
from __future__ import annotations

from aiohttp import web

from .. import keys, pagination
from ..permissions import org_role
from ..responses import ok
from ..validation import Field, path_uuid, query
from .invites import expire_due

QUERY = {**pagination.QUERY, "from": Field("datetime"), "to": Field("datetime"), "actor": Field("uuid"),
         "entity": Field("enum", choices=("organization", "membership", "invite", "event", "booking",
                                          "notification"))}
SELECT = """
select id, org_id, actor_id, entity, entity_id, action, before, after, created_at from audit_log
where org_id = $1 and ($2::text is null or entity = $2) and ($3::uuid is null or actor_id = $3)
  and ($4::timestamptz is null or created_at >= $4) and ($5::timestamptz is null or created_at < $5)
  and ($6::bigint is null or id < $6)
order by id desc limit $7
"""


async def list_for_org(request: web.Request) -> web.Response:
    org_id = path_uuid(request, "org")
    q = query(request, QUERY)
    await org_role(request, org_id, "orgAdmin")
    await expire_due(request, org_id=org_id)  # the log shows every expiry that is due
    limit = q.get("limit", pagination.DEFAULT_LIMIT)
    rows = await request.app[keys.POOL].fetch(
        SELECT, org_id, q.get("entity"), q.get("actor"), q.get("from"), q.get("to"),
        pagination.decode_int(q.get("cursor")), limit + 1)
    result = pagination.page(rows, limit, lambda r: (r["id"],))
    return ok({**result, "items": [dict(r) for r in result["items"]]})
