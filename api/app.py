"""The HTTP API's part of a process: authentication, rate limits, live streams, the /v1 routes and the
web app. The composition root (`happening.processes`) builds the application, its shared resources
and the engine client (`keys.ENGINE`), then calls `setup_api`.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from . import keys, webapp
from .auth import auth_ctx
from .live import setup_live
from .routes import setup_routes


async def _limiter_ctx(app: web.Application) -> AsyncIterator[None]:
    """Rate limits (api/ratelimit.py) in this process's Redis, unless HAPPENING_RATE_ENABLED=0."""
    from .ratelimit import RateLimiter

    settings = app[keys.SETTINGS]
    if settings.rate.enabled:
        app[keys.LIMITER] = RateLimiter(app[keys.REDIS], settings.redis.prefix, settings.rate)
    yield


def setup_api(app: web.Application) -> None:
    """Serve the API and the web app from `app`, whose settings, pool, Redis and engine client the
    composition root provides."""
    app.cleanup_ctx.extend([auth_ctx, _limiter_ctx])
    setup_live(app)
    setup_routes(app)
    web_root = app[keys.SETTINGS].http.web_root
    webapp.setup(app, Path(web_root) if web_root else webapp.DEFAULT_ROOT)
