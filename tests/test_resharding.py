"""Two engines believing they own the same events, and a reshard under load, with real processes
(tests/split.py): PostgreSQL's fence refuses the engine whose claim is stale, the API re-routes what
an engine refuses for another shard, and what every client was told is what PostgreSQL holds."""
from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from uuid import UUID

import aiohttp
import asyncpg

from happening_engine.sharding import shard_of

from .split import Split, book, freeze, published_event, thaw, until_ready, users

HAND_OVER_BOUND = 30.0  # seconds from the map change until every shard's engine consumes under it


async def _until_served(split: Split, shards: int) -> None:
    """Until the map has `shards` shards and an engine consumes each shard's queue under it (a live
    heartbeat alone may still be the one of an engine stepping down; engines claim a shard lazily, on
    the first command RabbitMQ hands them). Fails if the hand-over takes longer than HAND_OVER_BOUND."""
    async with asyncio.timeout(HAND_OVER_BOUND):
        while True:
            done = split.platform.happening("shards")
            if done.returncode == 0 and f"{shards} shard(s)" in done.stdout and _consuming(split, shards) >= set(
                    range(shards)):
                return
            await asyncio.sleep(0.2)


def _consuming(split: Split, shards: int) -> set[int]:
    """The shards whose engine logged that it consumes its queue under a map of `shards` shards (an
    engine's log is engine<K>.<n>.log)."""
    found = set()
    for log in split.platform.logs_dir.glob("engine*.log"):
        for line in log.read_text().splitlines():
            if "shard_consuming" in line and json.loads(line).get("shards") == shards:
                found.add(int(log.name[len("engine"):].split(".")[0]))
    return found


async def _event_moving(conn: asyncpg.Connection, org: str, old: tuple[int, int], new: tuple[int, int]) -> UUID:
    """An event on shard old[0] of old[1] that is on shard new[0] of new[1]."""
    while True:
        event = await published_event(conn, org, old[0], old[1], slots=60)
        if shard_of(event, new[1]) == new[0]:
            return event
        await conn.execute("delete from events where id = $1", event)


async def _compare(conn: asyncpg.Connection, events: list[UUID], told: list[tuple[int, dict | None, str]]) -> None:
    """Every 201 holds exactly its booking; nobody told anything else holds one; nothing else was booked."""
    rows = await conn.fetch("select b.id::text, b.status, u.email from bookings b join users u on u.id = b.user_id"
                            " where b.event_id = any($1::uuid[])", events)
    stored = {r["email"]: (r["id"], r["status"]) for r in rows}
    assert len(stored) == len(rows)  # one booking per user at most
    booked = {email: (body["id"], body["status"]) for status, body, email in told if status == 201 and body}
    assert stored == booked, {k: (stored.get(k), booked.get(k)) for k in set(stored) ^ set(booked)}
    assert {status for status, _, _ in told} <= {201, 503}, sorted({status for status, _, _ in told})


def _log(split: Split, name: str) -> str:
    return (split.platform.logs_dir / f"{name}.log").read_text()


# Issue 17: the API told 503 to clients of bookings A had committed (the API now looks a request up
# before answering 503; nothing commits past its deadline, sql/008); A, fenced, never released its
# shard (its heartbeat's cancellation was swallowed by redis-py, shard_health.py); A's backend, frozen
# mid-message, held shard 0's row so `shards set 2` gave up (a count change now ends it after
# STALE_AFTER, tests/test_stale_shard_holder.py).
async def test_an_engine_paused_under_a_stale_map_is_refused_when_it_resumes(tmp_path: Path) -> None:
    split = await Split.start(tmp_path, shards=1)
    try:
        await split.platform.start_part("engine1.0", "engine", "--shard", "1", ready="/healthz")  # idle: no shard 1
        async with aiohttp.ClientSession() as session:
            await until_ready(session, split.api)
            people, tokens, emails = await users(session, split, 161, "stale")
            org = (await people.sign_up(tokens[0]))["memberships"][0]["org_id"]
            conn = await split.connect()
            try:
                moving = await _event_moving(conn, org, (0, 1), (1, 2))  # A's now, B's once there are 2 shards
                staying = await _event_moving(conn, org, (0, 1), (0, 2))
                events = [moving, staying]
                answered, paused = 0, asyncio.Event()

                async def client(i: int, token: str) -> tuple[int, dict | None, str]:
                    nonlocal answered
                    status, body, _ = await book(session, split.api, events[i % 2], token)
                    answered += 1
                    if answered == 40:
                        paused.set()
                    return status, body, emails[i + 1]

                burst = asyncio.ensure_future(asyncio.gather(*(client(i, t) for i, t in enumerate(tokens[1:121]))))
                await paused.wait()
                (engine_a,) = split.engines[0]
                freeze(engine_a)  # A keeps its claim on shard 0 of 1 and the commands it was handed
                try:
                    done = split.platform.happening("shards", "set", "2")  # exit 1: shard 0 (A) is not live
                    assert "2 shard(s), was 1" in done.stdout, done.stdout + done.stderr
                    await _until_routed(session, split.api, 2)  # the API routes by the new map
                    second = await asyncio.gather(*(book(session, split.api, moving, t) for t in tokens[121:]))
                finally:
                    thaw(engine_a)  # A resumes with a stale map and a claim that no longer holds
                first = await burst
                await _until_served(split, 2)
                assert {status for status, _, _ in second} == {201}  # B served the moved event all along
                told = [*first, *((s, b, e) for (s, b, _), e in zip(second, emails[121:]))]
                await _compare(conn, events, told)
                # A was refused: by the fence (its claim was voided), or, if it was paused inside a
                # transaction, by PostgreSQL ending that transaction (idle_in_transaction_session_timeout)
                # before the reshard could void the claim, or, paused past the deadline of every command it
                # held (a slow run), it dropped them unrun; either way it stepped down from shard 0 of 1
                log = _log(split, "engine0.0")
                assert "shard_fenced" in log or "booking_write_failed" in log or "command_expired" in log
                assert '"shards":1,"map_version":1,"event":"shard_released"' in log
            finally:
                await conn.close()
        await split.check_invariants()
    finally:
        await split.teardown()


async def _until_routed(session: aiohttp.ClientSession, api: str, shards: int) -> None:
    """Until the API knows `shards` shards and sees an engine beating for the last one."""
    while True:
        async with session.get(f"{api}/metrics") as response:
            if f'happening_engine_shard_up{{shard="{shards - 1}"}} 1.0' in await response.text():
                return
        await asyncio.sleep(0.1)


async def test_reshard_from_2_to_3_under_load(tmp_path: Path) -> None:
    split = await Split.start(tmp_path, shards=2, apis=2)
    try:
        await split.platform.start_part("engine2.0", "engine", "--shard", "2", ready="/healthz")  # waits for a map
        async with aiohttp.ClientSession() as session:
            for api in split.apis:
                await until_ready(session, api.url)
            people, tokens, emails = await users(session, split, 241, "reshard")
            org = (await people.sign_up(tokens[0]))["memberships"][0]["org_id"]
            conn = await split.connect()
            try:
                events = [await _event_moving(conn, org, (k % 2, 2), (k, 3)) for k in range(3)]
                answered, resharded = 0, asyncio.Event()

                async def client(i: int, token: str) -> tuple[int, dict | None, str]:
                    nonlocal answered
                    status, body, _ = await book(session, split.apis[i % 2].url, events[i % 3], token,
                                                 uuid.uuid4().hex)
                    answered += 1
                    if answered == 40:
                        resharded.set()
                    return status, body, emails[i + 1]

                burst = asyncio.ensure_future(asyncio.gather(*(client(i, t) for i, t in enumerate(tokens[1:181]))))
                await resharded.wait()
                done = split.platform.happening("shards", "set", "3")  # while the burst is in flight
                assert "3 shard(s), was 2" in done.stdout, done.stdout + done.stderr
                told = await burst
                await _until_served(split, 3)
                after = await asyncio.gather(*(client(180 + i, t) for i, t in enumerate(tokens[181:])))
                assert {status for status, _, _ in after} == {201}  # the hand-over is over: no 5xx
                await _compare(conn, events, [*told, *after])
                assert sum(status == 503 for status, _, _ in told) < len(told) // 2
            finally:
                await conn.close()
        await split.check_invariants()
    finally:
        await split.teardown()
