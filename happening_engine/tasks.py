"""Stopping a background task without swallowing the stopper's own cancellation."""
from __future__ import annotations

import asyncio
from typing import Any


def cancelled_itself() -> bool:
    """Whether the running task was asked to stop (a CancelledError it sees is then its own)."""
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


async def cancel_and_wait(task: asyncio.Task[Any] | None, again_after: float = 1.0) -> None:
    """Cancel `task` and wait until it ended, cancelling it again every `again_after` s while it runs on
    (a library may swallow a cancellation: redis-py can, in a command in flight). Its CancelledError is
    expected and dropped; its other errors are raised; if the caller was cancelled meanwhile, that
    propagates (`suppress(CancelledError)` would swallow it too, and a loop shutting down would hang)."""
    if task is None:
        return
    task.cancel()
    while not (await asyncio.wait([task], timeout=again_after))[0]:
        task.cancel()
    if not task.cancelled():
        task.result()
