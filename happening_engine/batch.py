"""A micro-batcher: many tasks submit one item each, one flush handles all that arrived together (one
round trip for many jobs or actors). Idle, an item waits `max_wait` for company; during a flush, items
go in the next; with no wait, an idle batcher's item is flushed by its own caller (no task hop)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """`await submit(item)` returns `flush(items)[i]` for its item, or raises what the flush raised."""

    def __init__(self, flush: Callable[[list[T]], Awaitable[Sequence[R]]], *, max_size: int,
                 max_wait: float, name: str) -> None:
        self._flush = flush
        self.max_size, self.max_wait, self.name = max(max_size, 1), max_wait, name
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inline = False  # a caller is flushing its own item

    async def submit(self, item: T) -> R:
        if self.max_wait <= 0 and self._task is None and not self._inline:
            return await self._flush_inline(item)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if self._task is None and not self._inline:
            self._task = loop.create_task(self._run(), name=self.name)
        elif len(self._pending) >= self.max_size:
            self._full.set()
        return await future

    async def _flush_inline(self, item: T) -> R:
        self._inline = True
        try:
            return (await self._flush([item]))[0]
        finally:  # what arrived meanwhile goes in the next flush, at once
            self._inline = False
            if self._pending:
                self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            if self.max_wait > 0 and len(self._pending) < self.max_size:
                self._full.clear()
                try:  # idle until now: give the jobs that arrived with this one a moment to join
                    await asyncio.wait_for(self._full.wait(), self.max_wait)
                except TimeoutError:
                    pass
            while self._pending:  # what queued up during a flush has waited long enough: no pause
                batch, self._pending = self._pending[:self.max_size], self._pending[self.max_size:]
                try:
                    results = await self._flush([item for item, _ in batch])
                except Exception as exc:  # each job handles it (e.g. hands its message back)
                    _fail_all(batch, exc)
                else:
                    for (_, future), result in zip(batch, results, strict=True):
                        if not future.done():
                            future.set_result(result)
                batch = []
        except BaseException as exc:  # cancelled (the loop is closing): no job waits forever
            _fail_all(batch + self._pending, exc)
            self._pending = []
            raise
        finally:
            self._task = None


def _fail_all(batch: list[tuple[T, asyncio.Future[R]]], exc: BaseException) -> None:
    """Every job of `batch` still waiting gets `exc`; cancelled instead when it is not an Exception."""
    for _, future in batch:
        if future.done():
            continue
        if isinstance(exc, Exception):
            future.set_exception(exc)
        else:
            future.cancel()
