"""A crash mid-burst: `happening serve` (API, engine and its notification process) is SIGKILLed while
300 bookings are in flight, then started again. No booking a client was told about is lost, every
request can be retried safely, the invariants hold, and every notification is still delivered."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from uuid import UUID

import aiohttp
import asyncpg

from happening_engine.config import RedisSettings
from happening_engine.connections import create_redis
from loadtests.fixtures import assert_invariants
from loadtests.population import Population
from loadtests.processes import Platform

USERS = 300


async def _book(session: aiohttp.ClientSession, url: str, token: str) -> tuple[int, dict | None]:
    try:
        async with session.post(url, json={"seats": 1}, headers={"Authorization": f"Bearer {token}"}) as response:
            return response.status, await response.json() if response.status < 500 else None
    except (TimeoutError, aiohttp.ClientError):
        return 0, None  # the server died under this request: the client does not know the outcome


async def test_a_crash_mid_burst_loses_nothing(tmp_path: Path) -> None:
    platform = Platform(tmp_path, extra_env={
        "HAPPENING_OIDC_DEV_KEY_FILE": str(tmp_path / "issuer.pem"),  # tokens stay valid across the restart
        "HAPPENING_NOTIFY_SEND_TIMEOUT": "2", "HAPPENING_NOTIFY_RETRY_BASE_SECONDS": "0.5"})
    try:
        serve = await platform.start_serve()
        async with aiohttp.ClientSession() as session:
            people = Population(session, serve.url, platform.issuer)
            tokens = await people.users([f"crash{i}-{uuid.uuid4().hex[:6]}@example.test" for i in range(USERS)])
            org = (await people.sign_up(tokens[0]))["memberships"][0]["org_id"]
            event = await people.event(tokens[0], org, slots=100, name="Crash test")
            url = f"{serve.url}/v1/events/{event}/bookings"

            answered = 0
            crash = asyncio.Event()

            async def book(token: str) -> tuple[int, dict | None]:
                nonlocal answered
                result = await _book(session, url, token)
                answered += 1
                if answered == USERS // 3:
                    crash.set()
                return result

            burst = asyncio.gather(*(book(t) for t in tokens))
            await crash.wait()
            serve.kill()  # SIGKILL: no shutdown, no flush, the notification process too
            results = await burst

            told = {body["id"]: body["status"] for status, body in results if status == 201}
            assert len(told) >= USERS // 3 - 5  # most of those answered before the kill were bookings
            platform.serve = None
            serve = await platform.start_serve()
            url = f"{serve.url}/v1/events/{event}/bookings"

            # every request whose answer was lost can be retried: it books, or finds the booking it made
            retried = await asyncio.gather(*(_book(session, url, t) for (s, _), t in zip(results, tokens)
                                             if s != 201))
            for status, body in retried:
                assert status in (201, 409), (status, body)
                if status == 201:
                    told[body["id"]] = body["status"]

        conn = await asyncpg.connect(platform.database_url)
        redis = create_redis(RedisSettings(prefix=platform.redis_prefix))
        try:
            stored = dict(await conn.fetch("select id::text, status from bookings where event_id = $1", UUID(event)))
            assert {k: stored.get(k) for k in told} == told  # nothing a client was told is lost
            assert len(stored) == USERS  # and every user ends with exactly one booking
            for _ in range(200):  # notifications interrupted by the crash are delivered after it
                if not await conn.fetchval("select count(*) from notifications where status = 'pending'"):
                    break
                await asyncio.sleep(0.25)
            per_booking = await conn.fetch(
                "select b.id, count(n.id) as n, bool_and(n.status = 'sent') as sent from bookings b"
                " left join notifications n on n.booking_id = b.id where b.event_id = $1 group by b.id", UUID(event))
            assert all(r["n"] == 1 and r["sent"] for r in per_booking)
            await assert_invariants(conn, redis, platform.redis_prefix, UUID(event))
        finally:
            await conn.close()
            await redis.aclose()
    finally:
        await platform.teardown()
