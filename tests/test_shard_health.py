"""A shard without a live engine fails its requests at once (503 + Retry-After, naming the shard), the
API's /readyz and its metric name the shard, and the shard serves again once an engine is back.
Real processes: `happening dev-issuer`, `happening engine` per shard, `happening api`; kill -9 by pid."""
from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from .split import Split, book, bookings_of, published_event, users


async def _down(session: aiohttp.ClientSession, api: str) -> list[str]:
    async with session.get(f"{api}/readyz") as response:
        return list((await response.json(content_type=None))["down"])


async def _until_down(session: aiohttp.ClientSession, api: str, down: list[str]) -> None:
    while await _down(session, api) != down:
        await asyncio.sleep(0.1)


async def test_a_shard_without_engine_answers_503_at_once_and_readyz_names_it(tmp_path: Path) -> None:
    split = await Split.start(tmp_path, shards=2, engines=(0,))
    try:
        async with aiohttp.ClientSession() as session:
            await _until_down(session, split.api, ["engine-shard-1"])
            people, tokens, _ = await users(session, split, 3, "health")
            org = (await people.sign_up(tokens[0]))["memberships"][0]["org_id"]
            conn = await split.connect()
            try:
                live, dead = [await published_event(conn, org, shard, 2) for shard in (0, 1)]
                status, body, headers = await book(session, split.api, dead, tokens[0])
                assert status == 503 and headers["Retry-After"] == "1", body
                assert "shard 1 is not running" in body["detail"]  # refused before sending: no wait
                assert (await book(session, split.api, live, tokens[0]))[0] == 201
                async with session.get(f"{split.api}/metrics") as response:
                    metrics = await response.text()
                assert 'happening_engine_shard_up{shard="1"} 0.0' in metrics
                assert 'happening_engine_shard_up{shard="0"} 1.0' in metrics

                engine = await split.start_engine(1)  # the shard comes back
                await _until_down(session, split.api, [])
                status, body, _ = await book(session, split.api, dead, tokens[1])
                assert status == 201, body
                told = {body["id"]: body["status"]}  # type: ignore[index]

                engine.kill()  # kill -9 of the shard's only engine: known within the heartbeat's expiry
                await _until_down(session, split.api, ["engine-shard-1"])
                status, body, _ = await book(session, split.api, dead, tokens[2])
                assert status == 503 and "shard 1 is not running" in body["detail"]
                assert await bookings_of(conn, dead) == told  # the refused request booked nothing
            finally:
                await conn.close()
        await split.check_invariants()
    finally:
        await split.teardown()
