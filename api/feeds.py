"""An event's watchers in one API process, and its newest state, handed to them at most once per
interval (the newest state wins), so a hot event costs its watchers a bounded number of writes."""
from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

from .streams import Inbox


@dataclass
class Feed:
    inboxes: set[Inbox] = field(default_factory=set)
    state: bytes = b""
    last: float = -math.inf
    timer: asyncio.TimerHandle | None = None

    def push(self, min_interval: float, state: bytes) -> None:
        self.state = state
        if self.timer is not None:
            return  # already due: it will carry this newer state
        loop = asyncio.get_running_loop()
        wait = self.last + min_interval - loop.time()
        if wait <= 0:
            self.deliver()
        else:
            self.timer = loop.call_later(wait, self.deliver)

    def deliver(self) -> None:
        self.timer, self.last = None, asyncio.get_running_loop().time()
        for inbox in self.inboxes:
            inbox.offer("state", self.state)

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
