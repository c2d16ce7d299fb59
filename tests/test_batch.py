"""The micro-batcher behind the actors' shared Redis round trip and the worker's PostgreSQL batches."""
from __future__ import annotations

import asyncio

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
