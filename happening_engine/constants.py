"""Every Redis key, exchange and queue name in one place.

Event keys carry a Redis Cluster hash tag (`{<event id>}`) so that every Lua script touches one slot.
"""
from __future__ import annotations

from pathlib import Path
from uuid import UUID

ROOT = Path(__file__).resolve().parent.parent
LUA_DIR = ROOT / "lua"
SQL_DIR = ROOT / "sql"

# advisory lock key held while migrations run ("happenin" in ASCII)
MIGRATION_LOCK_ID = 0x68617070656E696E

NOTIFICATIONS_EXCHANGE = "notifications"
NOTIFICATIONS_QUEUE = "notifications"
NOTIFICATIONS_RETRY_EXCHANGE = "notifications.retry"
NOTIFICATIONS_DEAD_EXCHANGE = "notifications.dead"
NOTIFICATIONS_DEAD_QUEUE = "notifications.dead"
OUTBOX_CHANNEL = "happening_outbox"  # PostgreSQL LISTEN/NOTIFY channel

SEAT_KEYS = ("slots", "waitlist", "meta", "holders")


def event_key(prefix: str, event_id: UUID | str, name: str) -> str:
    """`event:{<id>}:<name>`: slots (available seats), waitlist, meta (total, seq), holders."""
    return f"{prefix}event:{{{event_id}}}:{name}"


def event_keys(prefix: str, event_id: UUID | str) -> list[str]:
    return [event_key(prefix, event_id, name) for name in SEAT_KEYS]


def booking_lock_key(prefix: str, event_id: UUID | str, user_id: UUID | str) -> str:
    """`booking:{<event id>}:<user id>`: short-lived lock against concurrent duplicates."""
    return f"{prefix}booking:{{{event_id}}}:{user_id}"


def engine_alive_key(prefix: str, shard: int) -> str:
    """`engine:{shards}:<K>:alive`: refreshed by every live engine of shard K, expiring when none is.
    One hash tag for all shards, so an API reads them all with one MGET, also on a Redis Cluster."""
    return f"{prefix}engine:{{shards}}:{shard}:alive"


def amqp_name(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def shard_queue(prefix: str, shard: int) -> str:
    return amqp_name(prefix, f"engine.shard.{shard}")


def live_channel(prefix: str, event_id: UUID | str) -> str:
    """`live:event:{<id>}`: Redis pub/sub channel of an event's committed changes (the live streams)."""
    return f"{prefix}live:event:{{{event_id}}}"


def live_pattern(prefix: str) -> str:
    """The pattern of every event's live channel under `prefix` (glob characters in it escaped)."""
    escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in prefix)
    return f"{escaped}live:event:*"


def rate_key(prefix: str, scope: str, ident: object) -> str:
    """`rate:<scope>:<id>`: one GCRA bucket (lua/ratelimit.lua) of a client address, user or organization."""
    return f"{prefix}rate:{scope}:{ident}"
