"""GET /v1/me and GET /v1/auth/config."""
from __future__ import annotations

from aiohttp import web

from happening_engine.store import users

from .. import keys
from ..auth import current_user
from ..responses import ok


async def me(request: web.Request) -> web.Response:
    user = current_user(request)
    rows = await users.memberships(request.app[keys.POOL], user.id)
    return ok({"id": user.id, "email": user.email, "full_name": user.full_name,
               "memberships": [dict(r) for r in rows]})


async def auth_config(request: web.Request) -> web.Response:
    oidc = request.app[keys.SETTINGS].oidc
    return ok({"issuer": oidc.effective_issuer, "audience": oidc.audience, "client_id": oidc.client_id,
               "web_client_id": oidc.web_client_id})
