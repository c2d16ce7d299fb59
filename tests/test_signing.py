"""Engine commands are signed (HMAC over the body: command, deadline, request id): an engine with keys
runs what is signed by any of its keys (rotation) and refuses, and counts, anything else, such as a
command published straight to its queue with only the broker's login."""
from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator

import aiormq
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from happening.processes import create_app
from happening_engine.commands import UpdateEvent, to_wire
from happening_engine.constants import shard_queue
from happening_engine.signing import CommandKeys
from loadtests.fixtures import make_event, make_org, make_users
from tests.engine_env import shard_engine


def test_first_key_signs_every_key_verifies() -> None:
    new, old = CommandKeys.parse("new-secret, old-secret"), CommandKeys.parse("old-secret")
    body = b'{"type": "Book"}'
    assert new.verify(body, old.sign(body)) and new.verify(body, new.sign(body))
    assert not old.verify(body, new.sign(body))  # a dropped key no longer verifies
    assert not new.verify(body + b" ", new.sign(body)) and not new.verify(body, None)
    assert not CommandKeys.parse(None) and CommandKeys.parse(None).sign(body) is None


def _refused() -> float:
    return REGISTRY.get_sample_value("happening_engine_commands_refused_total", {"reason": "bad_signature"}) or 0.0


@pytest.fixture
async def signed_engine(settings) -> AsyncIterator[object]:
    async for keyed in shard_engine(settings, "signed", "new-key,old-key", 1.0):
        yield keyed


async def _api(settings, keys: str) -> TestClient:
    client = TestClient(TestServer(create_app(
        dataclasses.replace(settings, engine=dataclasses.replace(settings.engine, command_keys=keys)), {"api"})))
    await client.start_server()
    while (await client.get("/readyz")).status != 200:
        await asyncio.sleep(0.05)
    return client


async def test_signed_commands_run_others_are_refused_and_counted(signed_engine, token, pool) -> None:
    settings = signed_engine
    (owner,) = await make_users(pool, 1)
    event = await make_event(pool, await make_org(pool, owner), total=5)
    headers = {"Authorization": f"Bearer {await token('signed@example.test')}"}
    for keys in ("old-key", "new-key"):  # mid-rotation, an API still signing with the old key is obeyed
        api = await _api(settings, keys)
        try:
            response = await api.post(f"/v1/events/{event}/bookings", json={"seats": 1}, headers=headers)
            assert response.status in (201, 409), await response.text()
        finally:
            await api.close()
    refused = _refused()
    forger = await _api(settings, "guessed-key")
    try:
        response = await forger.post(f"/v1/events/{event}/bookings", json={"seats": 1},
                                     headers={"Authorization": f"Bearer {await token('forger@example.test')}"})
        assert response.status == 503  # refused unseen: the API hears nothing before the deadline
    finally:
        await forger.close()
    # straight to the queue with the broker's login, as in issue 16: unsigned, then signed with a wrong key
    connection = await aiormq.connect(settings.amqp.url)
    channel = await connection.channel()
    body = json.dumps(to_wire(UpdateEvent(event, {"name": "Owned", "total_slots": 1_000_000}))).encode()
    for signature in (None, CommandKeys.parse("wrong").sign(body)):
        await channel.basic_publish(body, routing_key=shard_queue(settings.amqp.prefix, 0),
                                    properties=aiormq.spec.Basic.Properties(
                                        headers={"x-happening-signature": signature} if signature else None))
    await connection.close()
    while _refused() < refused + 3:
        await asyncio.sleep(0.05)
    row = await pool.fetchrow("select name, total_slots from events where id = $1", event)
    assert (row["name"], row["total_slots"]) == ("Show", 5)
    assert await pool.fetchval("select count(*) from bookings where event_id = $1", event) == 1

