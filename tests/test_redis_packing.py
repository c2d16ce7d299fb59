"""Redis commands packed by hiredis (`connections.CPackedConnection`) exactly as redis-py packs them."""
from __future__ import annotations

import uuid

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from happening_engine.connections import CPackedConnection

COMMANDS = [
    ("SET", "k", "v"), ("SET", "k", b"\x00\xff binary"), ("INCRBY", "k", -5), ("ZADD", "z", 1.5, "m"),
    ("ZADD", "z", 1e20, "m"), ("SET", "k", 0.1), ("SET", "k", 2**70), ("SET", "ключ", "значение ✓"),
    ("SET", "k", memoryview(b"view")), ("SCRIPT LOAD", "return 1"), ("CLIENT SETNAME", "happening"),
    ("EVALSHA", "a" * 40, 5, *(f"event:{{{uuid.uuid4()}}}:{k}" for k in ("meta", "slots", "waitlist", "holders")),
     f"booking:{{{uuid.uuid4()}}}:{uuid.uuid4()}", 10, "B", str(uuid.uuid4()), str(uuid.uuid4()), 1),
    ("SET", "k", "x" * 100_000),  # above redis-py's chunking cutoff
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c[0]))
def test_commands_are_packed_byte_for_byte_as_redis_py_does(command) -> None:
    ours = b"".join(bytes(chunk) for chunk in CPackedConnection().pack_command(*command))
    theirs = b"".join(bytes(chunk) for chunk in Connection().pack_command(*command))
    assert ours == theirs


@pytest.mark.parametrize("value", [None, True, [1]])
def test_a_value_redis_cannot_take_is_still_refused_by_redis_py(value) -> None:
    with pytest.raises(DataError):
        CPackedConnection().pack_command("SET", "k", value)


async def test_the_engine_client_packs_with_hiredis_and_round_trips(redis, settings) -> None:
    assert redis.connection_pool.connection_class is CPackedConnection
    key = f"{settings.redis.prefix}packing"
    await redis.set(key, "значение ✓")
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(key).incrby(f"{key}:n", 41).incr(f"{key}:n")
        assert await pipe.execute() == ["значение ✓", 41, 42]
    script = redis.register_script("return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}")
    assert await script(keys=[key], args=["arg ✓", 1.5]) == [key, "arg ✓", 2]
