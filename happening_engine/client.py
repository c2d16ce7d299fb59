"""The one way to send a command to an event's actor: in-process, or over RabbitMQ to its shard."""
from __future__ import annotations

from typing import Any, Protocol

from .commands import Command


class EngineClient(Protocol):
    """`await client.send(command)` returns the result dict or raises `errors.DomainError`.

    `deadline` (Unix time): past it, the engine drops the command with no effect (`errors.Expired`)."""

    async def send(self, command: Command, deadline: float | None = None) -> dict[str, Any]: ...
