"""An actor's mailbox: FIFO, drained in batches of booking commands. Event-level commands change what
later commands are checked against, so they are handed out alone, never inside a batch."""
from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..commands import Book, CancelBooking, Command
from ..metrics import MAILBOX_DEPTH

BATCHABLE = (Book, CancelBooking)


@dataclass(slots=True)
class Envelope:
    command: Command
    reply: asyncio.Future[dict[str, Any]]
    deadline: float | None = None  # Unix time; past it the command is dropped with no effect
    received: float = field(default_factory=time.perf_counter)


class Mailbox:
    def __init__(self) -> None:
        self._items: deque[Envelope] = deque()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, envelope: Envelope) -> None:
        self._items.append(envelope)
        MAILBOX_DEPTH.inc()
        self._ready.set()

    async def next_batch(self, max_size: int, timeout: float) -> list[Envelope]:
        """The next batch, or [] if nothing arrived within `timeout` seconds."""
        if not self._items:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return []
            if not self._items:  # woken to close
                return []
        batch = [self._items.popleft()]
        if isinstance(batch[0].command, BATCHABLE):
            while self._items and len(batch) < max_size and isinstance(self._items[0].command, BATCHABLE):
                batch.append(self._items.popleft())
        MAILBOX_DEPTH.dec(len(batch))
        return batch

    def wake(self) -> None:
        self._ready.set()
