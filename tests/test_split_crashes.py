"""The split layout under crashes, with real processes (tests/split.py) and the experiments of issue 17:
a wedged engine past the commands' deadline, kill -9 of a hot shard's engine three times, and kill -9
of an API with Idempotency-Key retries on another. Each ends with `happening check-invariants` and
compares what every client was told with what PostgreSQL holds."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp

from .split import Split, book, bookings_of, freeze, published_event, thaw, until_ready, users

FAST = {"HAPPENING_ENGINE_COMMAND_TIMEOUT": "2"}  # commands void 2 s (+ 2 s grace) after they are sent


async def test_no_booking_for_a_client_told_503_when_the_engine_was_wedged(tmp_path: Path) -> None:
    split = await Split.start(tmp_path, shards=1, **FAST)
    try:
        async with aiohttp.ClientSession() as session:
            await until_ready(session, split.api)
            people, tokens, _ = await users(session, split, 80, "wedged")
            org = (await people.sign_up(tokens[0]))["memberships"][0]["org_id"]
            conn = await split.connect()
            try:
                event = await published_event(conn, org, 0, 1, slots=50)
                first = await asyncio.gather(*(book(session, split.api, event, t) for t in tokens[:40]))
                assert all(status == 201 for status, _, _ in first)
                (engine,) = split.engines[0]
                freeze(engine)  # holds its queue's messages, beats no heartbeat, answers nothing
                try:
                    second = await asyncio.gather(*(book(session, split.api, event, t) for t in tokens[40:]))
                finally:
                    thaw(engine)  # it wakes up with commands whose deadline has passed
                assert {status for status, _, _ in second} == {503}
                await until_ready(session, split.api)
                # a booking sent now reaches the actor after every command the engine held: once it is
                # answered, each of those was decided (dropped, as each was past its deadline)
                late = await people.users([f"late-{uuid.uuid4().hex[:6]}@example.test"])
                assert (await book(session, split.api, event, late[0]))[0] == 201
                stored = await bookings_of(conn, event)
                told = {body["id"]: body["status"] for _, body, _ in first if body}
                assert {k: stored[k] for k in told} == told  # what clients were told is what PostgreSQL holds
                assert len(stored) == len(told) + 1  # and nobody told 503 holds a booking
            finally:
                await conn.close()
        await split.check_invariants()
    finally:
        await split.teardown()


async def _until_booked(session: aiohttp.ClientSession, apis: list[str], event: uuid.UUID, token: str,
                        key: str) -> dict[str, object]:
    """Retry with the same Idempotency-Key (on the APIs in turn) until the answer is 201."""
    attempt = 0
    while True:
        status, body, _ = await book(session, apis[attempt % len(apis)], event, token, key)
        if status == 201:
            return body  # type: ignore[return-value]
        assert status in (0, 503), (status, body)  # never a 409 for the client's own request
        attempt += 1
        await asyncio.sleep(0.2)


async def test_kill_9_of_a_hot_shard_three_times_gives_every_owner_their_own_booking(tmp_path: Path) -> None:
    split = await Split.start(tmp_path, shards=1, **FAST)
    try:
        await split.start_engine(0)  # a standby
        async with aiohttp.ClientSession() as session:
            await until_ready(session, split.api)
            people, tokens, _ = await users(session, split, 240, "hot")
            org = (await people.sign_up(tokens[0]))["memberships"][0]["org_id"]
            conn = await split.connect()
            try:
                event = await published_event(conn, org, 0, 1, slots=150)
                keys = [uuid.uuid4().hex for _ in tokens]
                answered = 0
                kills = [asyncio.Event() for _ in range(3)]

                async def client(token: str, key: str) -> dict[str, object]:
                    nonlocal answered
                    body = await _until_booked(session, [split.api], event, token, key)
                    answered += 1
                    for i, kill in enumerate(kills):
                        if answered == (i + 1) * len(tokens) // 5:
                            kill.set()
                    return body

                burst = asyncio.gather(*(client(t, k) for t, k in zip(tokens, keys)))
                for kill in kills:
                    await kill.wait()
                    active = split.engines[0].pop(0)  # the oldest engine consumes (single active consumer)
                    active.kill()
                    await split.start_engine(0)  # the next standby
                answers = await burst
                stored = await bookings_of(conn, event)
                told = {str(body["id"]): body["status"] for body in answers}
                assert len(told) == len(tokens) == len(stored)  # one booking each, the one they were told
                assert set(told) == set(stored)
            finally:
                await conn.close()
        await split.check_invariants()
    finally:
        await split.teardown()


async def test_idempotency_key_retried_on_another_api_after_kill_9_gets_the_original(tmp_path: Path) -> None:
    split = await Split.start(tmp_path, shards=1, apis=2, **FAST)
    try:
        async with aiohttp.ClientSession() as session:
            for api in split.apis:
                await until_ready(session, api.url)
            people, tokens, _ = await users(session, split, 150, "apikill")
            org = (await people.sign_up(tokens[0]))["memberships"][0]["org_id"]
            conn = await split.connect()
            try:
                event = await published_event(conn, org, 0, 1, slots=100)
                keys = [uuid.uuid4().hex for _ in tokens]
                doomed, other = split.apis[0], split.apis[1].url
                answered = 0
                kill = asyncio.Event()

                async def first_try(token: str, key: str) -> tuple[int, dict[str, object] | None]:
                    nonlocal answered
                    status, body, _ = await book(session, doomed.url, event, token, key)
                    answered += 1
                    if answered == len(tokens) // 3:
                        kill.set()
                    return status, body

                burst = asyncio.gather(*(first_try(t, k) for t, k in zip(tokens, keys)))
                await kill.wait()
                doomed.kill()
                firsts = await burst
                retried = await asyncio.gather(*(_until_booked(session, [other], event, t, k)
                                                 for t, k in zip(tokens, keys)))
                for (status, body), again in zip(firsts, retried):
                    if status == 201:
                        assert again == body  # the stored answer, replayed
                stored = await bookings_of(conn, event)
                assert {str(b["id"]) for b in retried} == set(stored) and len(stored) == len(tokens)
            finally:
                await conn.close()
        await split.check_invariants()
    finally:
        await split.teardown()
