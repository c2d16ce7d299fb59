"""Stopping background tasks (happening_engine/tasks.py): the stopped task ends, the stopper's own
cancellation is never swallowed (a component shut down mid-stop must not keep running)."""
from __future__ import annotations

import asyncio

import pytest

from happening_engine.tasks import cancel_and_wait


async def test_the_task_is_cancelled_and_awaited() -> None:
    task = asyncio.create_task(asyncio.sleep(60))
    await cancel_and_wait(task)
    assert task.cancelled()
    await cancel_and_wait(None)


async def test_a_stopper_cancelled_while_it_waits_is_cancelled_too() -> None:
    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.2)  # cleans up after its cancellation

    async def stopper(task: asyncio.Task[None]) -> str:
        await cancel_and_wait(task)
        return "carried on"

    stopping = asyncio.create_task(stopper(asyncio.create_task(slow_to_stop())))
    await asyncio.sleep(0.05)
    stopping.cancel()  # e.g. the event loop shutting down while a component stops
    with pytest.raises(asyncio.CancelledError):
        await stopping


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again_until_it_ends() -> None:
    swallowed = 0

    async def beats() -> None:  # like a heartbeat loop whose Redis call swallowed the CancelledError
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed < 2:
                    swallowed += 1
                    continue
                raise

    task = asyncio.create_task(beats())
    await asyncio.sleep(0.02)
    await asyncio.wait_for(cancel_and_wait(task, again_after=0.05), 5)
    assert task.cancelled() and swallowed == 2


async def test_a_task_that_failed_raises_its_error_to_the_stopper() -> None:
    async def fails() -> None:
        raise RuntimeError("broken")

    task = asyncio.create_task(fails())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="broken"):
        await cancel_and_wait(task)
