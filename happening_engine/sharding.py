"""Which engine shard owns an event: a stable hash of its id, the same in every process."""
from __future__ import annotations

from uuid import UUID


def shard_of(event_id: UUID, shards: int) -> int:
    return event_id.int % shards if shards > 1 else 0
