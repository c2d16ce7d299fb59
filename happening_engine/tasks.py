"""Stopping a background task without swallowing the stopper's own cancellation."""
from __future__ import annotations

import asyncio
from typing import Any


def cancelled_itself() -> bool:
    """Whether the running task was asked to stop (a CancelledError it sees is then its own)."""
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait until it ended. Its CancelledError is expected and dropped; if the caller
    was cancelled meanwhile, that propagates (`suppress(CancelledError)` would swallow it too, and a
    loop being shut down would keep running)."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if cancelled_itself():
            raise
