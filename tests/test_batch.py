"""The micro-batcher behind the actors' shared Redis round trip and the worker's PostgreSQL batches."""
from __future__ import annotations

import asyncio
import time

import pytest

from happening_engine.batch import Batcher


class Recorder:
    """A flush that records its batches, answers each item doubled, and can be held or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail: set[int] = set()

    async def flush(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(0)  # a round trip, however quick
        await self.release.wait()
        if self.fail & set(items):
            raise RuntimeError(f"flush of {items} failed")
        return [i * 2 for i in items]


async def test_an_idle_batcher_flushes_the_first_item_at_once_and_the_rest_together() -> None:
    rec = Recorder()
    batcher = Batcher(rec.flush, max_size=100, max_wait=0, name="t")
    results = await asyncio.gather(*(batcher.submit(i) for i in range(6)))
    assert results == [0, 2, 4, 6, 8, 10]  # each caller gets its own item's result
    assert rec.batches == [[0], [1, 2, 3, 4, 5]]


async def _held_first_flush(max_size: int) -> tuple[Recorder, Batcher[int, int], asyncio.Future[int]]:
    """A batcher whose first item (1) is being flushed, held until `rec.release` is set."""
    rec = Recorder()
    batcher = Batcher(rec.flush, max_size=max_size, max_wait=0, name="t")
    rec.release.clear()
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0)
    return rec, batcher, first


async def test_items_arriving_during_a_flush_wait_for_it_and_go_in_the_next() -> None:
    rec, batcher, first = await _held_first_flush(max_size=3)
    later = [asyncio.ensure_future(batcher.submit(i)) for i in range(10, 15)]
    await asyncio.sleep(0.01)
    assert rec.batches == [[1]] and not any(f.done() for f in [first, *later])  # all wait for the flush
    rec.release.set()
    assert await asyncio.gather(first, *later) == [2, 20, 22, 24, 26, 28]
    assert rec.batches == [[1], [10, 11, 12], [13, 14]]  # at most max_size per flush


async def test_a_failed_flush_fails_only_its_own_callers() -> None:
    rec = Recorder()
    batcher = Batcher(rec.flush, max_size=100, max_wait=0, name="t")
    rec.fail = {0}
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)
    assert isinstance(outcomes[0], RuntimeError)  # flushed alone, at once
    assert outcomes[1:] == [2, 4, 6]
    rec.fail = {3}
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)
    assert outcomes[0] == 0 and all(isinstance(o, RuntimeError) for o in outcomes[1:])
    assert await batcher.submit(5) == 10  # still working


async def test_with_a_wait_items_submitted_together_share_one_flush() -> None:
    rec = Recorder()
    batcher = Batcher(rec.flush, max_size=100, max_wait=0.05, name="t")
    assert await asyncio.gather(*(batcher.submit(i) for i in range(5))) == [0, 2, 4, 6, 8]
    assert rec.batches == [[0, 1, 2, 3, 4]]


async def test_a_caller_cancelled_during_its_own_flush_does_not_strand_the_others() -> None:
    rec, batcher, first = await _held_first_flush(max_size=100)
    second = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    rec.release.set()
    assert await asyncio.wait_for(second, 1) == 4


async def test_with_a_wait_a_full_batch_is_flushed_without_waiting_it_out() -> None:
    rec = Recorder()
    batcher = Batcher(rec.flush, max_size=3, max_wait=30, name="t")
    first = asyncio.ensure_future(batcher.submit(0))
    await asyncio.sleep(0.01)  # waiting for company
    results = await asyncio.wait_for(asyncio.gather(first, batcher.submit(1), batcher.submit(2)), 1)
    assert results == [0, 2, 4] and rec.batches == [[0, 1, 2]]


async def test_with_a_wait_a_lone_item_waits_that_long_for_company_then_goes_alone() -> None:
    rec = Recorder()
    batcher = Batcher(rec.flush, max_size=100, max_wait=0.5, name="t")
    started = time.monotonic()
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0.05)
    assert rec.batches == []  # still waiting for company
    second = asyncio.ensure_future(batcher.submit(2))  # joins it
    assert await asyncio.wait_for(asyncio.gather(first, second), 1) == [2, 4]
    assert time.monotonic() - started >= 0.45 and rec.batches == [[1, 2]]
    assert await asyncio.wait_for(batcher.submit(3), 1) == 6 and rec.batches[-1] == [3]


async def test_with_a_wait_every_caller_of_a_failed_flush_gets_its_error_and_the_next_flush_works() -> None:
    rec = Recorder()
    batcher = Batcher(rec.flush, max_size=2, max_wait=0.05, name="t")
    rec.fail = {1}
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True), 1)
    assert rec.batches == [[0, 1], [2, 3]]
    assert isinstance(outcomes[0], RuntimeError) and outcomes[0] is outcomes[1]  # the flush's own error
    assert outcomes[2:] == [4, 6]  # the batch behind it still went through


async def test_a_flush_cancelled_at_shutdown_leaves_no_caller_waiting() -> None:
    rec = Recorder()
    batcher = Batcher(rec.flush, max_size=1, max_wait=0.01, name="t")
    rec.release.clear()
    callers = [asyncio.ensure_future(batcher.submit(i)) for i in range(3)]  # one in the flush, two behind it
    await asyncio.sleep(0.05)
    assert rec.batches == [[0]] and batcher._task is not None
    batcher._task.cancel()  # the loop is closing
    outcomes = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), 1)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
