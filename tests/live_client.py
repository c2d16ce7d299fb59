"""A small Server-Sent Events reader for tests: parses `event:`/`data:` messages, skips comments."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

WAIT = 20.0  # generous: a wait, never a timing assertion


@dataclass
class Message:
    event: str
    data: dict[str, Any]


@dataclass
class Stream:
    response: aiohttp.ClientResponse
    seen: list[Message] = field(default_factory=list)
    comments: int = 0

    async def next(self, timeout: float = WAIT) -> Message | None:
        """The next message; None at the end of the stream."""
        event, data = "message", []
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), timeout)
            if not raw:
                return None
            line = raw.decode().rstrip("\r\n")
            if not line:
                if data:
                    message = Message(event, json.loads("\n".join(data)))
                    self.seen.append(message)
                    return message
                continue
            if line.startswith(":"):
                self.comments += 1
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())

    async def until(self, check: Callable[[Message], bool], timeout: float = WAIT) -> Message:
        """Read until a message satisfies `check` (fails after `timeout` seconds without one)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise AssertionError(f"no matching message; last: {self.seen[-3:]}")
            try:
                message = await self.next(left)
            except TimeoutError:
                raise AssertionError(f"no matching message; last: {self.seen[-3:]}") from None
            if message is None:
                raise AssertionError(f"stream ended; last: {self.seen[-3:]}")
            if check(message):
                return message

    def close(self) -> None:
        self.response.close()
