"""Liveness, readiness (PostgreSQL, Redis, RabbitMQ) and Prometheus metrics."""
from __future__ import annotations

import asyncio
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


@routes.get("/healthz")
async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    async def run(name: str) -> tuple[str, str | None]:
        try:
            await asyncio.wait_for(CHECKS[name](request.app), CHECK_TIMEOUT)
            return name, None
        except Exception as exc:  # any failure means "not ready"; the reason is reported
            return name, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    results = dict(await asyncio.gather(*(run(name) for name in CHECKS)))
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
