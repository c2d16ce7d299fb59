"""Helpers for API tests that need an app of their own (other parts than the shared `api_client`,
e.g. the lifecycle clock, the outbox relay and the worker): its own database, Redis key prefix and
RabbitMQ names, so that its background parts never touch another test's rows."""
from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from api import keys
from happening.processes import create_app
from happening_engine.amqp import Topology, connect, delete_topology
from happening_engine.config import DatabaseSettings, Settings
from loadtests.throwaway import create_database, delete_prefix, drop_database
from tests.conftest import RUN_ID, ApiUser, create_event, invite_and_join, sign_up


@dataclasses.dataclass
class OwnApp:
    """A running app of its own, with helpers that act through HTTP like a user would."""

    client: TestClient
    settings: Settings
    token: Callable[[str], Awaitable[str]]

    @property
    def pool(self) -> asyncpg.Pool:
        return self.client.app[keys.POOL]

    async def user(self, email: str | None = None) -> ApiUser:
        """A user signed up through GET /v1/me (with the organization sign-up creates)."""
        return await sign_up(self.client, self.token, email)

    async def join(self, admin: ApiUser, user: ApiUser, role: str) -> None:
        await invite_and_join(self.client, admin, user, role)

    async def event(self, user: ApiUser, **fields: Any) -> dict[str, Any]:
        """An event created through the API (`tests.conftest.create_event`)."""
        return await create_event(self.client, user, **fields)

    async def book(self, user: ApiUser, event_id: str, seats: int = 1) -> dict[str, Any]:
        response = await self.client.post(f"/v1/events/{event_id}/bookings", headers=user.headers,
                                          json={"seats": seats})
        assert response.status == 201, await response.text()
        return await response.json()  # type: ignore[no-any-return]


@asynccontextmanager
async def own_app(settings: Settings, token: Callable[[str], Awaitable[str]], parts: Collection[str],
                  **engine: Any) -> AsyncIterator[OwnApp]:
    """An app running `parts` on a fresh database, key prefix and RabbitMQ prefix; all removed after.

    `engine` overrides EngineSettings fields (e.g. lifecycle_interval=0.1)."""
    tag = uuid.uuid4().hex[:6]
    name = f"happening_test_{RUN_ID}_a{tag}"
    url = await create_database(name)
    own = dataclasses.replace(
        settings, database=DatabaseSettings(url=url, min_size=1, max_size=20),
        redis=dataclasses.replace(settings.redis, prefix=f"{settings.redis.prefix}a{tag}:"),
        amqp=dataclasses.replace(settings.amqp, prefix=f"{settings.amqp.prefix}.a{tag}"),
        engine=dataclasses.replace(settings.engine, **engine))
    client = TestClient(TestServer(create_app(own, parts)))
    try:
        await client.start_server()
        yield OwnApp(client, own, token)
    finally:
        if keys.REDIS in client.app:
            await delete_prefix(client.app[keys.REDIS], own.redis.prefix)
        await client.close()
        if {"relay", "worker"} & set(parts):
            connection = await connect(own.amqp, "test-cleanup")
            channel = await connection.channel()
            await delete_topology(channel, Topology.for_settings(own.amqp, own.notify))
            await connection.close()
        await drop_database(name)
