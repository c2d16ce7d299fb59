"""Liveness, readiness (PostgreSQL, Redis, RabbitMQ) and Prometheus metrics."""
from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import aiormq
from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from . import keys

CHECK_TIMEOUT = 2.0
routes = web.RouteTableDef()


async def _postgresql(app: web.Application) -> None:
    await app[keys.POOL].fetchval("select 1")


async def _redis(app: web.Application) -> None:
    await app[keys.REDIS].ping()


async def _rabbitmq(app: web.Application) -> None:
    connection = await aiormq.connect(app[keys.SETTINGS].amqp.url)
    await connection.close()


CHECKS = {"postgresql": _postgresql, "redis": _redis, "rabbitmq": _rabbitmq}
CACHE_SECONDS = 1.0


class Readiness:
    """The dependencies' state, checked at most once per `CACHE_SECONDS` however many probes ask
    (each check opens a RabbitMQ connection: a flood of /readyz must not open one per call)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self._checked_at = -math.inf
        self._result: dict[str, str | None] = {}
        self._running: asyncio.Task[dict[str, str | None]] | None = None
        self.checks = 0  # how many times the dependencies were actually checked

    async def results(self) -> dict[str, str | None]:
        """Each dependency's error (None: reachable), from a check at most `CACHE_SECONDS` old."""
        if time.monotonic() - self._checked_at < CACHE_SECONDS:
            return self._result
        if self._running is None:  # one check for every caller that arrives while it runs
            self._running = asyncio.ensure_future(self._check())
        return await asyncio.shield(self._running)

    async def _check(self) -> dict[str, str | None]:
        try:
            self.checks += 1
            self._result = dict(await asyncio.gather(*(self._one(name) for name in CHECKS)))
            self._checked_at = time.monotonic()
            return self._result
        finally:
            self._running = None

    async def _one(self, name: str) -> tuple[str, str | None]:
        try:
            await asyncio.wait_for(CHECKS[name](self.app), CHECK_TIMEOUT)
            return name, None
        except Exception as exc:  # any failure means "not ready"; the reason is reported
            return name, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@routes.get("/healthz")
async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    results = dict(await request.app[keys.READINESS].results())
    health = request.app.get(keys.SHARD_HEALTH)
    if health is not None:  # an API without an engine: each shard without a live engine is named
        results.update({f"engine-shard-{s}": "no live engine" for s in sorted(health.down)})
    down = sorted(name for name, error in results.items() if error)
    body: dict[str, Any] = {"status": "ok" if not down else "unavailable", "down": down,
            "checks": {name: error or "ok" for name, error in results.items()}}
    if down:
        body.update(type="about:blank", title="Service Unavailable", status=503,
                    detail=f"not ready: {', '.join(down)} unreachable")
        return web.json_response(body, status=503, content_type="application/problem+json")
    return web.json_response(body)


routes.get("/metrics")(make_aiohttp_handler())


def setup(app: web.Application) -> None:
    """/healthz, /readyz and /metrics, served by every process."""
    app[keys.READINESS] = Readiness(app)
    app.add_routes(routes)
