"""Acks and nacks on one consuming channel, written in order by one task: a run of acks becomes one
`basic.ack(multiple=True)` for the oldest unsettled stretch plus singles, and a multiple ack never
overtakes a nack of a tag it covers."""
from __future__ import annotations

import asyncio

from aiormq.abc import AbstractChannel


class Acks:
    """Settles deliveries on `channel`; `delivered(tag)` must be called for each, in delivery order."""

    def __init__(self, channel: AbstractChannel) -> None:
        self.channel = channel
        self._unsettled: dict[int, None] = {}  # delivery tags not yet settled, oldest first
        self._queue: list[tuple[int, bool | None, asyncio.Future[None]]] = []  # (tag, nack requeue or None: ack)
        self._task: asyncio.Task[None] | None = None

    def delivered(self, tag: int) -> None:
        self._unsettled[tag] = None

    async def ack(self, tag: int) -> None:
        await self._ack_or_nack(tag, None)

    async def nack(self, tag: int, *, requeue: bool) -> None:
        await self._ack_or_nack(tag, requeue)

    async def _ack_or_nack(self, tag: int, requeue: bool | None) -> None:
        """Queue an ack (`requeue` None) or a nack of `tag` for the writer task; return once it is written."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.append((tag, requeue, future))
        if self._task is None:
            self._task = loop.create_task(self._write(), name="worker-acks")
        await future

    async def _write(self) -> None:
        try:
            await asyncio.sleep(0)  # let the acks asked for in this turn of the loop join
            while self._queue:
                ops, self._queue = self._queue, []
                try:
                    await self._write_ops(ops)
                except Exception as exc:  # the channel is gone: each job logs it; the broker requeues
                    for _, _, future in ops:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for _, _, future in ops:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._task = None

    async def _write_ops(self, ops: list[tuple[int, bool | None, asyncio.Future[None]]]) -> None:
        frames: list[tuple[int, bool | None, bool]] = []  # (tag, nack requeue or None: ack, multiple)
        acks: list[int] = []
        for tag, requeue, _ in ops:
            if requeue is None:
                acks.append(tag)
                continue
            frames += self._coalesce(acks)
            acks = []
            self._unsettled.pop(tag, None)
            frames.append((tag, requeue, False))
        frames += self._coalesce(acks)
        for i, (tag, requeue, multiple) in enumerate(frames):
            last = i == len(frames) - 1  # frames go out in order: waiting for the last one's write is enough
            if requeue is None:
                await self.channel.basic_ack(tag, multiple=multiple, wait=last)
            else:
                await self.channel.basic_nack(tag, requeue=requeue, wait=last)

    def _coalesce(self, tags: list[int]) -> list[tuple[int, bool | None, bool]]:
        """The ack frames for `tags`: one multiple ack for the oldest unsettled stretch, then singles."""
        if not tags:
            return []
        wanted = set(tags)
        upto = None
        for tag in self._unsettled:  # oldest first
            if tag not in wanted:
                break
            upto = tag
        for tag in tags:
            self._unsettled.pop(tag, None)
        frames: list[tuple[int, bool | None, bool]] = [] if upto is None else [(upto, None, True)]
        frames += [(tag, None, False) for tag in tags if upto is None or tag > upto]
        return frames
