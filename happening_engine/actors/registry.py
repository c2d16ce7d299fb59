"""Activates one actor per event on its first command and forgets it when it retires."""
from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import structlog

from ..commands import Command
from ..errors import Unavailable
from ..memory import release_freed_memory
from ..metrics import ACTIVE_ACTORS
from .actor import Actor, ActorContext
from .mailbox import Envelope

log = structlog.get_logger(__name__)
# Once this many actors retired, and RELEASE_DELAY seconds passed without another retiring, the memory
# they held goes back to the OS (memory.py): one call per wave of retirements, not one per actor.
RELEASE_AFTER = 1000
RELEASE_DELAY = 1.0


class Registry:
    def __init__(self, context: ActorContext) -> None:
        self.context = context
        self.actors: dict[UUID, Actor] = {}
        self._closed = False
        self._retired_since_release = 0
        self._release: asyncio.TimerHandle | None = None

    def send(self, command: Command, deadline: float | None = None) -> asyncio.Future[dict[str, Any]]:
        """Queue `command` for its event's actor; the future resolves with the result. Past `deadline`
        (Unix time) the actor drops it unseen."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        if self._closed:
            future.set_exception(Unavailable("the engine is shutting down"))
            return future
        actor = self.actors.get(command.event_id)
        if actor is None:
            actor = Actor(command.event_id, self.context, self._retired)
            self.actors[command.event_id] = actor
            ACTIVE_ACTORS.inc()
            actor.start()
        actor.mailbox.put(Envelope(command, future, deadline))
        return future

    def _retired(self, actor: Actor) -> None:
        # Called synchronously by an actor that found its mailbox empty: no command can slip in between.
        if self.actors.get(actor.event_id) is actor:
            del self.actors[actor.event_id]
            ACTIVE_ACTORS.dec()
            self._retired_since_release += 1
            if self._retired_since_release >= RELEASE_AFTER and not self._closed:
                if self._release is not None:
                    self._release.cancel()  # more are retiring: wait for the wave to end
                self._release = asyncio.get_running_loop().call_later(RELEASE_DELAY, self._release_memory)

    def _release_memory(self) -> None:
        self._release, self._retired_since_release = None, 0
        release_freed_memory()

    async def stop(self) -> None:
        """Let every actor finish what it holds, then stop."""
        self._closed = True
        if self._release is not None:
            self._release.cancel()
        actors = list(self.actors.values())
        for actor in actors:
            actor.close()
        await asyncio.gather(*(a.task for a in actors if a.task), return_exceptions=True)
