"""Sending commands to the engine (in-process, or over RabbitMQ to the event's shard)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from happening_engine.commands import Command
from happening_engine.errors import Unavailable

from . import keys


async def send(request: web.Request, command: Command) -> dict[str, Any]:
    """The command's result dict; domain refusals propagate as `DomainError`s."""
    engine = request.app.get(keys.ENGINE)
    if engine is None:
        raise Unavailable("the booking engine is not running in this process")
    return await engine.send(command)
