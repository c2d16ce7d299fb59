"""A paused active engine (SIGSTOP: a long GC, a stalled VM) hands its shard to the standby. RabbitMQ
moves a single-active-consumer queue only when the consumer's connection closes, and a paused process
keeps its socket open: the engines' AMQP heartbeat (`HAPPENING_AMQP_HEARTBEAT`, 4 s) makes RabbitMQ
drop it. The standby then claims the shard, which fences the paused engine out: resumed, it commits
nothing and stands by. Real processes (tests/split.py), stopped and killed by pid."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import pytest

from .split import Split, book, bookings_of, freeze, published_event, thaw, until_ready, users

TAKEOVER_BOUND = 15.0  # seconds from the pause to the standby's first booking


async def _until_logged(split: Split, name: str, text: str, timeout: float) -> None:
    path = split.platform.logs_dir / f"{name}.log"
    async with asyncio.timeout(timeout):
        while text not in path.read_text():
            await asyncio.sleep(0.1)


# Commands void 2 s after they are sent (so those the paused engine held are dropped when it resumes),
# or 30 s (so its actors run them when it resumes, and are fenced out)
@pytest.mark.parametrize("command_timeout", ["2", "30"])
async def test_a_paused_engine_hands_its_shard_to_the_standby_and_is_fenced_when_it_resumes(
        tmp_path: Path, command_timeout: str) -> None:
    split = await Split.start(tmp_path, shards=1, HAPPENING_ENGINE_COMMAND_TIMEOUT=command_timeout)
    (active,) = split.engines[0]
    standby = await split.start_engine(0)  # consumes only once RabbitMQ drops the active one
    try:
        async with aiohttp.ClientSession() as session:
            await until_ready(session, split.api)
            people, tokens, _ = await users(session, split, 200, "paused")
            org = (await people.sign_up(tokens[0]))["memberships"][0]["org_id"]
            conn = await split.connect()
            try:
                event = await published_event(conn, org, 0, 1, slots=150)
                loop = asyncio.get_running_loop()
                answered, pause = 0, asyncio.Event()

                async def client(i: int, token: str) -> tuple[int, dict[str, object] | None]:
                    nonlocal answered
                    await asyncio.sleep(i * 0.03)  # a steady flow over 3 s, not one burst
                    status, body, _ = await book(session, split.api, event, token, uuid.uuid4().hex)
                    answered += 1
                    if answered == 30:
                        pause.set()
                    return status, body

                burst = asyncio.ensure_future(asyncio.gather(*(client(i, t) for i, t in enumerate(tokens[1:101]))))
                await pause.wait()
                freeze(active)  # mid-burst: it holds commands, its claim, its connections
                paused_at = loop.time()
                key = uuid.uuid4().hex  # one client retrying its request until it is booked
                while (probe := await book(session, split.api, event, tokens[101], key))[0] != 201:
                    assert probe[0] == 503, probe  # its deadline passed while the paused engine held it
                    assert loop.time() - paused_at < TAKEOVER_BOUND, "the standby did not take over"
                    await asyncio.sleep(0.25)
                took_over = loop.time() - paused_at
                firsts = await burst
                during = await asyncio.gather(*(book(session, split.api, event, t) for t in tokens[102:150]))
                assert {status for status, _, _ in during} == {201}

                thaw(active)  # resumes with a claim the standby has replaced, and the commands it held
                await _until_logged(split, active.name, "shard_released", 15)
                if command_timeout == "30":  # what it held was still due: its actors tried, and were refused
                    await _until_logged(split, active.name, "shard_fenced", 5)
                after = await asyncio.gather(*(book(session, split.api, event, t) for t in tokens[150:]))
                assert {status for status, _, _ in after} == {201}
                active.kill()  # kill -9 of the resumed engine: the standby serves on
                last = await people.users([f"last-{uuid.uuid4().hex[:6]}@example.test"])
                assert (await book(session, split.api, event, last[0]))[0] == 201

                owner = await conn.fetchval("select owner from shard_owners where shards = 1 and shard = 0")
                assert owner.endswith(f":{standby.popen.pid}"), owner  # the standby holds the shard
                stored = await bookings_of(conn, event)
                told = {body["id"]: body["status"] for status, body in firsts if status == 201 and body}
                assert {status for status, _ in firsts} <= {201, 503}
                for _, body, _ in [probe, *during, *after]:
                    assert body is not None
                    told[body["id"]] = body["status"]
                assert {k: v for k, v in stored.items() if k in told} == told  # what clients were told
                assert len(stored) == len(told) + 1  # and no one told 503 holds a booking (+1: `last`)
                print(f"took over {took_over:.1f} s after the pause;"
                      f" {sum(s == 503 for s, _ in firsts)} of {len(firsts)} in flight told 503")
            finally:
                await conn.close()
        await split.check_invariants()
    finally:
        thaw(active)  # a stopped process would hold SIGTERM until resumed
        await split.teardown()
