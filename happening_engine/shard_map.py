"""The shard map as this process knows it: loaded from PostgreSQL at start, polled every `POLL` seconds,
and refreshed at once when a peer shows a newer version (an engine refusing a command for another
shard, a command sent under a newer map). APIs route by it; engines own shard K only while it exists.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import asyncpg
import structlog

from .store.shards import MapVersion, load_map
from .tasks import cancel_and_wait

log = structlog.get_logger(__name__)
POLL = 1.0  # seconds between reads of the map (one primary-key read)


class ShardMapView:
    """`current` is the newest map seen; `changed()` resolves when a newer one is seen."""

    def __init__(self, pool: asyncpg.Pool, seed: int) -> None:
        self.pool, self.seed = pool, seed
        self.current = MapVersion(0, seed)  # until loaded: the documented HAPPENING_ENGINE_SHARDS
        self._listeners: list[Callable[[MapVersion], None]] = []
        self._changed: asyncio.Future[MapVersion] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        try:
            await self.refresh()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # PostgreSQL down: later
            log.warning("shard_map_unknown", error=repr(exc), assumed_shards=self.seed)
        self._task = asyncio.create_task(self._poll(), name="shard-map")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)

    def on_change(self, listener: Callable[[MapVersion], None]) -> None:
        self._listeners.append(listener)

    def changed(self) -> asyncio.Future[MapVersion]:
        """A future resolved with the next map version seen after now."""
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        return self._changed

    async def refresh(self, at_least: int = 0) -> MapVersion:
        """Read the map now (unless a version >= `at_least` is already known, when `at_least` is given)."""
        async with self._lock:
            if at_least and self.current.version >= at_least:
                return self.current
            found = await load_map(self.pool, self.seed)
            if found.version > self.current.version:
                previous, self.current = self.current, found
                if previous.version:
                    log.info("shard_map_changed", version=found.version, shards=found.shards,
                             previous_shards=previous.shards)
                elif found.shards != self.seed:
                    log.warning("shard_map_differs_from_settings", shards=found.shards, configured=self.seed,
                                version=found.version, detail="following the map in PostgreSQL")
                for listener in self._listeners:
                    listener(found)
                if self._changed is not None and not self._changed.done():
                    self._changed.set_result(found)
            return self.current

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL)
            try:
                await self.refresh()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("shard_map_poll_failed", error=repr(exc))
