"""Shared fixtures: a fresh database, Redis key prefix and RabbitMQ name prefix per test run,
a running dev issuer with a token factory, the app, and the invariant checker.

Every test talks to the real PostgreSQL, Redis and RabbitMQ on this machine.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from api import dev_issuer as dev_issuer_module
from happening_engine.config import (
    AmqpSettings,
    DatabaseSettings,
    NotifySettings,
    OidcSettings,
    RedisSettings,
    Settings,
)
from happening_engine.connections import create_redis
from happening_engine.db import create_pool
from loadtests.throwaway import create_database, delete_prefix, drop_database

REDIS_URL = os.environ.get("HAPPENING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("HAPPENING_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
RUN_ID = uuid.uuid4().hex[:10]


async def serve_on_free_port(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve `app` on a free loopback port; `await runner.cleanup()` stops it."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture(scope="session")
async def dev_issuer() -> AsyncIterator[dev_issuer_module.DevIssuer]:
    """The dev issuer, served on a free loopback port for the whole run."""
    issuer = dev_issuer_module.DevIssuer("", "happening-api", dev_issuer_module.load_or_create_key(None))
    runner, port = await serve_on_free_port(issuer.app())
    issuer.issuer = f"http://127.0.0.1:{port}{dev_issuer_module.REALM_PATH}"
    yield issuer
    await runner.cleanup()


@pytest.fixture(scope="session")
async def settings(dev_issuer: dev_issuer_module.DevIssuer) -> AsyncIterator[Settings]:
    """Settings for this run: its own database, Redis key prefix and RabbitMQ name prefix."""
    name = f"happening_test_{RUN_ID}"
    url = await create_database(name)
    yield Settings(
        database=DatabaseSettings(url=url, min_size=1, max_size=20),
        redis=RedisSettings(url=REDIS_URL, prefix=f"test:{RUN_ID}:"),
        amqp=AmqpSettings(url=AMQP_URL, prefix=f"test.{RUN_ID}"),
        oidc=OidcSettings(issuer=dev_issuer.issuer),
        notify=NotifySettings(invite_keys=f"test-invite-key-{RUN_ID}"),
        log_format="console",
    )
    await drop_database(name)


@pytest.fixture(scope="session")
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.database)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = create_redis(settings.redis)
    yield client
    await delete_prefix(client, settings.redis.prefix)
    await client.aclose()


@pytest.fixture(scope="session")
async def token(dev_issuer: dev_issuer_module.DevIssuer) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """`await token(email)`: an access token from the dev issuer's password grant, over HTTP."""
    session = aiohttp.ClientSession()

    async def get(email: str) -> str:
        url = f"{dev_issuer.issuer}/protocol/openid-connect/token"
        form = {"grant_type": "password", "client_id": "happening-api", "username": email, "password": "x"}
        async with session.post(url, data=form) as response:
            assert response.status == 200, await response.text()
            return str((await response.json())["access_token"])

    yield get
    await session.close()


# Modules that start real processes, a browser, a fuzzer or a benchmark: `pytest -m "not slow"` runs
# the rest in about a minute. Each test of the suite gets 60 s (setup.cfg); these get 10 minutes
# unless they set their own timeout.
SLOW_MODULES = frozenset({
    "test_crash", "test_engine_paused", "test_flood_bench_smoke", "test_fuzz_openapi", "test_indexes",
    "test_loadtests_smoke",
    "test_locust_smoke", "test_outbox", "test_redis_cluster", "test_resharding", "test_shard_health",
    "test_split_bench_smoke", "test_split_crashes",
    "test_stream_bench_smoke", "test_web_e2e",
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(600))


def replace_settings(settings: Settings, **changes: object) -> Settings:
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


# --- API fixtures (added for the HTTP API tests) -------------------------------------------------

@dataclasses.dataclass
class ApiUser:
    """A signed-up user: its token, auth headers, user id and the organization created at sign-up."""

    email: str
    token: str
    id: str
    org_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
async def api_client(settings: Settings) -> AsyncIterator[TestClient]:
    """One running app (API + in-process engine) for the whole run, behind an aiohttp test client.
    Every response of a documented /v1 route is checked against the OpenAPI document (a mismatch
    fails the request with what differs: tests/openapi_check.py)."""
    from happening.processes import create_app

    from .openapi_check import watch

    client = TestClient(TestServer(create_app(settings, {"api", "engine"})))
    watch(client)
    await client.start_server()
    yield client
    await client.close()


# Acting as a user through HTTP, on any app's test client (the shared `api_client` or an own app's,
# tests/helpers.py); rows a test needs without a user's request come from loadtests/fixtures.py.

async def sign_up(client: TestClient, token: Callable[[str], Awaitable[str]], email: str | None = None) -> ApiUser:
    """A fresh user signed up through GET /v1/me (with the organization sign-up creates)."""
    email = email or f"u{uuid.uuid4().hex[:12]}@example.test"
    access = await token(email)
    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {access}"})
    assert response.status == 200, await response.text()
    me = await response.json()
    return ApiUser(email=email, token=access, id=me["id"], org_id=me["memberships"][0]["org_id"])


async def invite_and_join(client: TestClient, admin: ApiUser, user: ApiUser, role: str) -> None:
    """Admin invites user to admin's own organization with `role`; user accepts."""
    response = await client.post(f"/v1/organizations/{admin.org_id}/invites", headers=admin.headers,
                                 json={"email": user.email, "role": role})
    assert response.status == 201, await response.text()
    response = await client.post(f"/v1/invites/{(await response.json())['token']}/accept", headers=user.headers)
    assert response.status == 200, await response.text()


async def create_event(client: TestClient, user: ApiUser, *, publish: bool = True, org_id: str | None = None,
                       starts_in: timedelta = timedelta(days=7), lasts: timedelta = timedelta(hours=3),
                       **fields: Any) -> dict[str, Any]:
    """An event created (and by default published) by `user` in `org_id` (default: the user's own)."""
    start = datetime.now(UTC) + starts_in
    body = {"name": "Launch party", "category": "concert", "starts_at": start.isoformat(),
            "ends_at": (start + lasts).isoformat(), "total_slots": 50, **fields}
    response = await client.post(f"/v1/organizations/{org_id or user.org_id}/events", headers=user.headers,
                                 json=body)
    assert response.status == 201, await response.text()
    event: dict[str, Any] = await response.json()
    if publish:
        response = await client.post(f"/v1/events/{event['id']}/publish", headers=user.headers)
        assert response.status == 200, await response.text()
        event = await response.json()
    return event


@pytest.fixture(scope="session")
async def make_user(api_client: TestClient, token: Callable[[str], Awaitable[str]]
                    ) -> Callable[..., Awaitable[ApiUser]]:
    """`await make_user()`: a fresh user signed up through GET /v1/me (with its own organization)."""
    return functools.partial(sign_up, api_client, token)


@pytest.fixture(scope="session")
async def join_org(api_client: TestClient) -> Callable[..., Awaitable[None]]:
    """`await join_org(admin, user, role)`: admin invites user to admin's own org; user accepts."""
    return functools.partial(invite_and_join, api_client)


@pytest.fixture(scope="session")
async def make_event(api_client: TestClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """`await make_event(user, publish=True, **fields)`: an event in the user's org, via the API."""

    async def make(user: ApiUser, **fields: Any) -> dict[str, Any]:
        return await create_event(api_client, user, **{"description": "", **fields})

    return make
