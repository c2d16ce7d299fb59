"""The baseline behind the same HTTP stack: `python -m loadtests.baseline_app`.

The real API app (`happening.processes.create_app(settings, {"api"})`: its middlewares, JWT auth, sign-up, problem
responses) plus one route, `POST /v1/baseline/events/{event}/bookings {seats}`, that does what the real
booking handler does up to the engine (validation, visibility, seat limits) and then books the common
way (`loadtests.baseline.book_for_update`) instead of sending a command to an actor.
Configured like `happening api` (HAPPENING_* variables); `loadtests.bench` starts it.
"""
from __future__ import annotations

import asyncio
import os
import signal

import uvloop
from aiohttp import web

from api import keys
from api.auth import current_user
from api.handlers.bookings import BOOK_BODY
from api.permissions import visible_event
from api.responses import ok
from api.validation import json_body, path_uuid
from happening.processes import create_app
from happening_engine.config import Settings
from happening_engine.errors import InvalidInput
from happening_engine.logs import configure_logging

from .baseline import book_for_update

ROUTE = "/v1/baseline/events/{event}/bookings"


async def book(request: web.Request) -> web.Response:
    """Like `api.handlers.bookings.book` (without Idempotency-Key), deciding with SELECT ... FOR UPDATE."""
    event_id = path_uuid(request, "event")
    body = await json_body(request, BOOK_BODY)
    event, _ = await visible_event(request, event_id)
    seats = body["seats"]
    if seats > min(event["max_seats_per_booking"], event["total_slots"]):
        raise InvalidInput("too many seats", field="seats")
    async with request.app[keys.POOL].acquire() as conn:
        result = await book_for_update(conn, event_id, current_user(request).id, seats)
    return ok(result, status=201)


async def _without_engine(app: web.Application) -> None:
    """The baseline books without the engine: its readiness does not wait for engine shards."""
    app.pop(keys.SHARD_HEALTH, None)


def create_baseline_app(settings: Settings) -> web.Application:
    app = create_app(settings, {"api"})
    app.router.add_post(ROUTE, book)
    app.on_startup.append(_without_engine)  # runs after the cleanup contexts' set-up
    return app


async def _serve(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT, then clean up (pools, sessions) like `happening api`."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(create_baseline_app(settings), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http.host, settings.http.port).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    settings = Settings.from_env(os.environ)
    configure_logging(settings.log_format)
    uvloop.run(_serve(settings))


if __name__ == "__main__":
    main()
