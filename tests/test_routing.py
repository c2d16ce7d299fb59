"""Scale-out: an API process without an engine reaches the event's shard over RabbitMQ."""
from __future__ import annotations

import asyncio
import dataclasses
from uuid import UUID

import aiormq
from aiohttp.test_utils import TestClient, TestServer

from happening.processes import create_app
from happening_engine.config import EngineSettings
from happening_engine.constants import shard_queue
from happening_engine.store.shards import set_shards
from loadtests.fixtures import assert_invariants


async def test_api_process_routes_bookings_to_engine_shards_over_rabbitmq(settings, token, pool, redis):
    shards = 2
    await set_shards(pool, shards)  # the map in PostgreSQL, which APIs and engines route by
    sharded = dataclasses.replace(settings, engine=EngineSettings(shards=shards),
                                  amqp=dataclasses.replace(settings.amqp, prefix=settings.amqp.prefix + ".routing"))
    engines = []
    for shard in range(shards):
        engine_settings = dataclasses.replace(sharded, engine=EngineSettings(shard=shard, shards=shards))
        server = TestServer(create_app(engine_settings, {"engine"}))
        await server.start_server()
        engines.append(server)
    api = TestClient(TestServer(create_app(sharded, {"api"})))
    await api.start_server()
    try:
        while (await api.get("/readyz")).status != 200:  # until both shards' engines beat
            await asyncio.sleep(0.05)
        headers = {"Authorization": f"Bearer {await token('router-admin@example.test')}"}
        me = await (await api.get("/v1/me", headers=headers)).json()
        org = me["memberships"][0]["org_id"]
        events: list[str] = []
        while {int(e.replace("-", ""), 16) % shards for e in events} != {0, 1}:  # both shards own some
            i = len(events)
            assert i < 40
            body = {"name": f"Routed {i}", "description": "", "category": "webinar",
                    "starts_at": "2031-01-01T10:00:00Z", "ends_at": "2031-01-01T12:00:00Z", "total_slots": 1}
            created = await api.post(f"/v1/organizations/{org}/events", json=body, headers=headers)
            assert created.status == 201, await created.text()
            event = (await created.json())["id"]
            published = await api.post(f"/v1/organizations/{org}/events/{event}/publish", headers=headers)
            assert published.status == 200, await published.text()
            events.append(event)
        for event in events:
            first = await api.post(f"/v1/events/{event}/bookings", json={"seats": 1}, headers=headers)
            assert first.status == 201 and (await first.json())["status"] == "confirmed"
            again = await api.post(f"/v1/events/{event}/bookings", json={"seats": 1}, headers=headers)
            assert again.status == 409  # the engine's refusal travels back as a problem
            assert (await again.json())["booking_id"] == (await first.json())["id"]
        # a members-only event: the shard refuses the unchecked booking, the API checks membership
        body = {"name": "Members", "description": "", "category": "webinar", "visibility": "members",
                "starts_at": "2031-01-01T10:00:00Z", "ends_at": "2031-01-01T12:00:00Z", "total_slots": 5}
        members = (await (await api.post(f"/v1/organizations/{org}/events", json=body, headers=headers)).json())["id"]
        await api.post(f"/v1/organizations/{org}/events/{members}/publish", headers=headers)
        stranger = {"Authorization": f"Bearer {await token('router-stranger@example.test')}"}
        refused = await api.post(f"/v1/events/{members}/bookings", json={"seats": 1}, headers=stranger)
        assert refused.status == 404, await refused.text()
        booked = await api.post(f"/v1/events/{members}/bookings", json={"seats": 1}, headers=headers)
        assert booked.status == 201, await booked.text()
        for event in [*events, members]:
            await assert_invariants(pool, redis, settings.redis.prefix, UUID(event))
    finally:
        await api.close()
        for server in engines:
            await server.close()
        connection = await aiormq.connect(sharded.amqp.url)
        channel = await connection.channel()
        for shard in range(shards):
            await channel.queue_delete(shard_queue(sharded.amqp.prefix, shard))
        await connection.close()
        await set_shards(pool, 1)
