"""This engine's claim on its shard, as each of its writes presents it to PostgreSQL and Redis, so that
nothing of an engine whose shard was claimed by another, or remapped, commits (docs/architecture.md).
`happening serve` (one process, every event) runs unfenced: epoch None, Redis epoch 0."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import structlog
from prometheus_client import Counter

from .errors import DomainError, Expired, Fenced
from .store import Conn

log = structlog.get_logger(__name__)
FENCED_STATE = "HF001"  # happening_fence(): a newer owner, or another shard count
LATE_STATE = "HF002"  # happening_late(): a command's deadline passed before the write's last statement
FENCED = Counter("happening_engine_fenced_total", "Writes PostgreSQL refused because the shard has a newer owner")
LATE = Counter("happening_engine_writes_late_total", "Batch writes refused because a command's deadline passed")


UNCLAIMED = -1  # a sharded engine's epoch while it holds no claim: matches no row, so nothing it writes commits


@dataclass
class Fence:
    """Shard `shard` of `shards` as claimed with `epoch` (None: unfenced; `UNCLAIMED`: no claim)."""

    shards: int = 1
    shard: int = 0
    epoch: int | None = None
    lost: asyncio.Event = field(default_factory=asyncio.Event)  # set once a write was refused
    on_lost: Callable[[], None] | None = None  # told once when the claim is found lost

    @classmethod
    def sharded(cls, shard: int) -> Fence:
        return cls(shard=shard, epoch=UNCLAIMED)

    @property
    def redis_epoch(self) -> int:
        return self.epoch or 0

    def params(self) -> tuple[int, int, int | None]:
        """(shards, shard, epoch), the arguments of `happening_fence` in a write."""
        return self.shards, self.shard, self.epoch

    def claimed(self, shards: int, shard: int, epoch: int, on_lost: Callable[[], None]) -> None:
        self.shards, self.shard, self.epoch, self.on_lost = shards, shard, epoch, on_lost
        self.lost.clear()

    def release(self) -> None:
        """No claim any more (stepped down): whatever this engine still tries to write is refused."""
        self.epoch, self.on_lost = UNCLAIMED, None

    def lose(self) -> None:
        if self.epoch is None or self.lost.is_set():
            return
        self.lost.set()
        if self.epoch != UNCLAIMED:
            log.error("shard_fenced", shard=self.shard, shards=self.shards, epoch=self.epoch,
                      detail="another engine owns the shard now, or the shard count changed: stepping down")
        if self.on_lost is not None:
            self.on_lost()


def refusal(exc: BaseException, fence: Fence | None) -> DomainError | None:
    """What a failed write means for its commands: `Fenced` (the shard has a newer owner), `Expired`
    (a deadline passed before it could commit), or None (storage trouble: 503 as before)."""
    state = getattr(exc, "sqlstate", None)
    if state == FENCED_STATE or (fence is not None and fence.epoch is not None and fence.lost.is_set()):
        if fence is not None:
            fence.lose()
        FENCED.inc()
        return Fenced("this engine no longer owns the event's shard; the command was not run")
    if state == LATE_STATE:
        LATE.inc()
        return Expired("the request's deadline passed before it could be committed; it had no effect,"
                       " please retry")
    return exc if isinstance(exc, DomainError) else None


def as_timestamp(deadline: float | None) -> datetime | None:
    return datetime.fromtimestamp(deadline, UTC) if deadline is not None else None


async def check(conn: Conn, fence: Fence | None, deadline: float | None = None) -> None:
    """Inside an event command's transaction, just before it commits: raise `Fenced` or `Expired` (the
    transaction then rolls back). The shard's row stays locked FOR SHARE until the commit."""
    if fence is None or (fence.epoch is None and deadline is None):
        return
    try:
        await conn.fetchval("select happening_fence($1, $2, $3) and (clock_timestamp() <= $4::timestamptz"
                            " or $4::timestamptz is null or happening_late($4))", *fence.params(),
                            as_timestamp(deadline))
    except asyncpg.PostgresError as exc:
        raise refusal(exc, fence) or exc from exc
