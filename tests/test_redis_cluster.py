"""The engine against a Redis Cluster of three masters, started by this module on free loopback ports
(`redis-server --cluster-enabled yes`, `redis-cli --cluster create`) and killed by pid at its end.

Every test of tests/test_engine.py runs here again: collected in this module, its fixtures get this
module's `redis`, a cluster client. Then what only a cluster shows: events whose keys live on every
node, decided in one pipeline; a FLUSHALL (and SCRIPT FLUSH) of every node mid-burst; the live
updates (PUBLISH through one node, PSUBSCRIBE on another), rate limits and shard heartbeats.
"""
from __future__ import annotations

import asyncio
import dataclasses
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import orjson
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import RedisCluster

from api.fanout import Fanout
from api.ratelimit import Limit, RateLimited, RateLimiter
from happening_engine.commands import Book, CancelBooking
from happening_engine.config import RateLimitSettings, Settings
from happening_engine.connections import create_redis
from happening_engine.constants import event_key
from happening_engine.engine import Engine
from happening_engine.invariants import check
from happening_engine.shard_health import Heartbeat, ShardHealth

from .engine_env import running_engine
from .test_engine import *  # noqa: F403 (every engine test and fixture, run here against the cluster)
from .test_engine import fcfs, make_event, make_users, send_all

MASTERS = 3


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


async def _run(*args: str) -> str:
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, out.decode()
    return out.decode()


async def _until(port: int, command: list[str], expected: str) -> None:
    for _ in range(200):
        process = await asyncio.create_subprocess_exec("redis-cli", "-p", str(port), *command,
                                                       stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.DEVNULL)
        out, _ = await process.communicate()
        if expected in out.decode():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"node {port}: {' '.join(command)} never answered {expected!r}")


@pytest.fixture(scope="module")
async def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """`redis://127.0.0.1:<port>` of the first of three masters sharing the 16,384 slots."""
    root: Path = tmp_path_factory.mktemp("redis-cluster")
    ports = _free_ports(2 * MASTERS)  # a client port and a cluster bus port per node
    nodes: list[asyncio.subprocess.Process] = []
    try:
        for port, bus in zip(ports[:MASTERS], ports[MASTERS:]):
            directory = root / str(port)
            directory.mkdir()
            nodes.append(await asyncio.create_subprocess_exec(
                "redis-server", "--port", str(port), "--cluster-port", str(bus), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-config-file", str(directory / "nodes.conf"),
                "--dir", str(directory), "--save", "", "--appendonly", "no", "--loglevel", "warning",
                stdout=asyncio.subprocess.DEVNULL))
        for port in ports[:MASTERS]:
            await _until(port, ["ping"], "PONG")
        await _run("redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports[:MASTERS]),
                   "--cluster-replicas", "0", "--cluster-yes")
        for port in ports[:MASTERS]:
            await _until(port, ["cluster", "info"], "cluster_state:ok")
        yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        for node in nodes:
            node.kill()  # SIGKILL to the pid this fixture started
            await node.wait()


@pytest.fixture(scope="module")
async def redis(settings: Settings, cluster_url: str) -> AsyncIterator[RedisCluster]:
    """Overrides conftest's `redis` in this module: every engine here decides on the cluster."""
    client = create_redis(dataclasses.replace(settings.redis, url=cluster_url, cluster=1))
    assert isinstance(client, RedisCluster)
    yield client
    await client.aclose()


async def _spread_events(pool: asyncpg.Pool, redis: RedisCluster, settings: Settings, org: UUID,
                         per_node: int, **event: Any) -> list[UUID]:
    """Events made until each master holds the keys of `per_node` of them."""
    by_node: dict[str, list[UUID]] = {}
    while len(by_node) < MASTERS or min(len(e) for e in by_node.values()) < per_node:
        eid = await make_event(pool, org, **event)
        node = redis.get_node_from_key(event_key(settings.redis.prefix, eid, "slots"))
        assert node is not None
        if len(by_node.setdefault(node.name, [])) < per_node:
            by_node[node.name].append(eid)
    return [eid for events in by_node.values() for eid in events]


async def _no_violations(pool: asyncpg.Pool, redis: RedisCluster, settings: Settings, events: list[UUID]) -> None:
    for eid in events:
        assert await check(pool, redis, settings.redis.prefix, eid) == [], eid


def _rebuilds(reason: str) -> float:
    return REGISTRY.get_sample_value("happening_cache_rebuilds_total", {"reason": reason}) or 0.0


def _by_event(commands: list[Book], results: list[Any]) -> dict[UUID, list[tuple[Book, Any]]]:
    out: dict[UUID, list[tuple[Book, Any]]] = {}
    for command, result in zip(commands, results, strict=True):
        out.setdefault(command.event_id, []).append((command, result))
    return out


async def test_events_on_every_node_book_first_come_first_served(engine, pool, redis, settings, org):
    """Hundreds of bookings interleaved over twelve events whose keys live on all three masters: the
    actors' Lua calls share pipelines that span the nodes, and each event's outcome is its own arrival
    order, with no seat sold twice."""
    events = await _spread_events(pool, redis, settings, org, 4, total=20, max_seats=3)
    users = await make_users(pool, 60)
    rng = random.Random(17)
    commands = [Book(e, u, rng.randint(1, 3)) for u in users for e in events]  # 720, each event's in user order
    results = await send_all(engine, commands)
    assert not [r for r in results if isinstance(r, BaseException)]
    for eid, pairs in _by_event(commands, results).items():
        assert [r["status"] for _, r in pairs] == fcfs(20, [c.seats for c, _ in pairs]), eid
        confirmed = await pool.fetchval("select coalesce(sum(seats), 0) from bookings where event_id = $1"
                                        " and status = 'confirmed'", eid)
        assert confirmed == sum(r["seats"] for _, r in pairs if r["status"] == "confirmed") <= 20
    await _no_violations(pool, redis, settings, events)

    # cancelling each event's first two bookings promotes its waitlist's head while it fits
    cancels = [CancelBooking(eid, UUID(r["id"]), c.user_id)
               for eid, pairs in _by_event(commands, results).items() for c, r in pairs[:2]]
    assert not [r for r in await send_all(engine, cancels) if isinstance(r, BaseException)]
    promoted = 0
    for eid, pairs in _by_event(commands, results).items():
        available = 20 - sum(c.seats for c, r in pairs[2:] if r["status"] == "confirmed")
        expected = {}
        for c, r in [(c, r) for c, r in pairs if r["status"] == "waiting"]:  # in waiting-number order
            fits = c.seats <= available and "waiting" not in expected.values()  # a head that does not fit blocks
            available -= c.seats if fits else 0
            expected[UUID(r["id"])] = "confirmed" if fits else "waiting"
        stored = dict(await pool.fetch("select id, status from bookings where id = any($1::uuid[])", list(expected)))
        assert stored == expected, eid
        promoted += list(expected.values()).count("confirmed")
    assert promoted >= len(events)  # 2 to 6 seats freed per event: most heads fit
    await _no_violations(pool, redis, settings, events)


async def test_a_flushed_cluster_is_rebuilt_from_postgresql_mid_burst(engine, pool, redis, settings, org):
    """FLUSHALL and SCRIPT FLUSH on every master while bookings run: the actors rebuild their keys from
    PostgreSQL (and reload the scripts after NOSCRIPT), and the outcome still equals one-by-one."""
    events = await _spread_events(pool, redis, settings, org, 2, total=30, max_seats=2)
    users = await make_users(pool, 80)
    rng = random.Random(5)
    commands = [Book(e, u, rng.randint(1, 2)) for u in users for e in events]

    async def flush_soon() -> None:
        await asyncio.sleep(0.01)
        await redis.flushall()
        await redis.script_flush()

    half = len(commands) // 2
    first, _ = await asyncio.gather(send_all(engine, commands[:half]), flush_soon())
    await redis.flushall()
    await redis.script_flush()
    missing = _rebuilds("keys_missing")
    rest = await send_all(engine, commands[half:])
    assert _rebuilds("keys_missing") - missing == len(events)  # each event's keys, once, on its node
    results = list(first) + list(rest)
    assert not [r for r in results if isinstance(r, BaseException)]
    for eid, pairs in _by_event(commands, results).items():
        assert [r["status"] for _, r in pairs] == fcfs(30, [c.seats for c, _ in pairs]), eid
    await _no_violations(pool, redis, settings, events)


async def test_a_new_engine_clears_the_seat_keys_on_every_node(pool, redis, settings, org):
    """An unsharded engine drops the seat keys left behind at start (SCAN of every master)."""
    events = await _spread_events(pool, redis, settings, org, 1, total=5)
    (user,) = await make_users(pool, 1)
    async for engine in running_engine(pool, redis, settings):
        await send_all(engine, [Book(e, user, 1) for e in events])
    assert all([await redis.exists(event_key(settings.redis.prefix, e, "meta")) for e in events])
    async for _engine in running_engine(pool, redis, settings):
        assert not any([await redis.exists(event_key(settings.redis.prefix, e, "meta")) for e in events])
        await _no_violations(pool, redis, settings, events)


async def test_live_updates_reach_the_fanout_from_events_on_every_node(engine, pool, redis, settings, org):
    """The engine publishes through one node (a cluster cannot pipeline PUBLISH) and the API's fan-out
    subscribes through whichever node redis-py picks: every event's final state reaches its watchers,
    and a waiting booker's position drop is read from the event's waitlist (LPOS on its node)."""
    events = await _spread_events(pool, redis, settings, org, 1, total=1, max_seats=1)
    users = await make_users(pool, 3)
    fanout = Fanout(redis, settings.redis.prefix, min_interval=0.0)
    await fanout.start()
    try:
        await fanout.subscribe(wait=5)
        assert fanout.subscribed.is_set()
        watchers = {e: fanout.watch_event(str(e), lambda: True, None) for e in events}
        booked = await send_all(engine, [Book(e, u, 1) for e in events for u in users])  # 1 confirmed, 2 wait
        assert [b["status"] for b in booked] == ["confirmed", "waiting", "waiting"] * len(events)
        for eid, inbox in watchers.items():
            state: dict[str, Any] = {}
            while state.get("waitlist_length") != 2:
                frames = await asyncio.wait_for(inbox.take(), 5)
                assert frames is not None
                state = orjson.loads(frames[-1].split(b"data: ", 1)[1])
            assert (state["event_id"], state["available_slots"]) == (str(eid), 0)

        last = booked[2]  # the second in line of the first event
        mine = fanout.watch_user(str(users[2]), lambda: True, None)
        fanout.track(mine, {**last, "event_id": str(events[0])}, 0.0)
        await engine.send(CancelBooking(events[0], UUID(booked[1]["id"]), users[1]))  # the head leaves
        frames = await asyncio.wait_for(mine.take(), 5)
        assert frames is not None
        moved = orjson.loads(frames[-1].split(b"data: ", 1)[1])
        assert (moved["id"], moved["position"]) == (last["id"], 1)
    finally:
        await fanout.stop()


async def test_rate_limits_and_shard_heartbeats_work_on_the_cluster(redis, settings):
    """A bucket per key, on whichever node holds it; the heartbeats of all shards share one hash tag,
    so an API reads them with one MGET."""
    limiter = RateLimiter(redis, settings.redis.prefix, RateLimitSettings(refusal_delay_ms=0))
    tight = Limit("booking", 60_000, 2)
    for who in ("ada", "grace", "alan", "edsger"):  # buckets on different nodes
        await limiter.take(tight, who)
        await limiter.take(tight, who)
        with pytest.raises(RateLimited):
            await limiter.take(tight, who)

    beating = Heartbeat(redis, settings.redis.prefix, 1)
    health = ShardHealth(redis, settings.redis.prefix, 3)
    beating.start()
    try:
        for _ in range(40):
            await health.poll()
            if health.down == frozenset({0, 2}):
                break
            await asyncio.sleep(0.05)
        assert health.down == frozenset({0, 2})
    finally:
        await beating.stop()


async def test_engine_with_a_cluster_from_settings(pool, settings, cluster_url, org):
    """HAPPENING_REDIS_CLUSTER=1 with the URL of one node: the engine's own client finds the others."""
    cluster_settings = Settings.from_env({"HAPPENING_REDIS_URL": cluster_url, "HAPPENING_REDIS_CLUSTER": "1",
                                          "HAPPENING_REDIS_PREFIX": settings.redis.prefix})
    client = create_redis(cluster_settings.redis)
    assert isinstance(client, RedisCluster)
    try:
        (user,) = await make_users(pool, 1)
        eid = await make_event(pool, org, total=1)
        engine = Engine(pool, client, dataclasses.replace(settings, redis=cluster_settings.redis))
        await engine.start()
        try:
            assert (await engine.send(Book(eid, user, 1)))["status"] == "confirmed"
        finally:
            await engine.stop()
        assert await check(pool, client, settings.redis.prefix, eid) == []
    finally:
        await client.aclose()
