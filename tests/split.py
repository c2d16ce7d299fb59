"""The split layout as real processes for the scale-out tests: a dev issuer, engines per shard and APIs,
each `happening` command a subprocess of this test run (its own database, key and queue prefixes),
so a test can kill -9 or stop exactly the processes it started, by pid."""
from __future__ import annotations

import asyncio
import signal
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg

from happening_engine.sharding import shard_of
from loadtests.fixtures import make_event
from loadtests.population import Population
from loadtests.processes import Platform, Process


@dataclass
class Split:
    """One split layout: `platform` holds the processes; `engines[k]` the engines of shard k."""

    platform: Platform
    shards: int
    apis: list[Process] = field(default_factory=list)
    engines: dict[int, list[Process]] = field(default_factory=dict)

    @classmethod
    async def start(cls, tmp_path: Path, shards: int, apis: int = 1, engines: tuple[int, ...] | None = None,
                    **env: str) -> Split:
        """Migrate; start the dev issuer, an engine for each shard in `engines` (default: all) and `apis`
        APIs (not waiting for their /readyz, which fails while a shard has no engine)."""
        platform = Platform(tmp_path, extra_env={
            "HAPPENING_ENGINE_SHARDS": str(shards), "HAPPENING_OIDC_DEV_KEY_FILE": str(tmp_path / "issuer.pem"),
            **env})
        split = cls(platform, shards)
        done = platform.happening("migrate")
        assert done.returncode == 0, done.stderr
        await platform.start_dev_issuer()
        for shard in range(shards) if engines is None else engines:
            await split.start_engine(shard)
        for _ in range(apis):
            split.apis.append(await platform.start_part(f"api{len(split.apis)}", "api", ready="/healthz",
                                                        HAPPENING_OIDC_ISSUER=platform.issuer))
        return split

    async def start_engine(self, shard: int) -> Process:
        engines = self.engines.setdefault(shard, [])
        started = sum(p.name.startswith(f"engine{shard}.") for p in self.platform.parts)
        process = await self.platform.start_part(f"engine{shard}.{started}", "engine", "--shard", str(shard))
        engines.append(process)
        return process

    @property
    def api(self) -> str:
        return self.apis[0].url

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.platform.database_url)

    async def check_invariants(self) -> None:
        done = self.platform.happening("check-invariants")
        assert done.returncode == 0, done.stdout + done.stderr

    async def teardown(self) -> None:
        await self.platform.teardown()


async def until_ready(session: aiohttp.ClientSession, api: str) -> None:
    """Until the API answers /readyz with 200 (the test's own timeout bounds the wait)."""
    while True:
        async with session.get(f"{api}/readyz") as response:
            if response.status == 200:
                return
        await asyncio.sleep(0.1)


def freeze(process: Process) -> None:
    """SIGSTOP: the process holds its connections and messages but does nothing (a wedged engine)."""
    process.popen.send_signal(signal.SIGSTOP)


def thaw(process: Process) -> None:
    process.popen.send_signal(signal.SIGCONT)


async def published_event(conn: asyncpg.Connection, org_id: str, shard: int, shards: int, slots: int = 100
                          ) -> UUID:
    """An upcoming public event of `org_id` owned by `shard`, inserted directly (its engine may be down)."""
    while True:
        event_id = uuid.uuid4()
        if shard_of(event_id, shards) == shard:
            break
    return await make_event(conn, UUID(org_id), slots, name="Split", max_seats=4, event_id=event_id)


async def users(session: aiohttp.ClientSession, split: Split, n: int, tag: str
                ) -> tuple[Population, list[str], list[str]]:
    """`n` signed-up users: (population, tokens, emails); the first one's organization holds the test's events."""
    people = Population(session, split.api, split.platform.issuer)
    emails = [f"{tag}{i}-{uuid.uuid4().hex[:6]}@example.test" for i in range(n)]
    return people, await people.users(emails), emails


async def book(session: aiohttp.ClientSession, api: str, event: UUID, token: str, key: str | None = None
               ) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
    """(status, body, headers) of one booking request; status 0 when the connection broke."""
    headers = {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})}
    try:
        async with session.post(f"{api}/v1/events/{event}/bookings", json={"seats": 1}, headers=headers) as r:
            return r.status, await r.json(content_type=None), dict(r.headers)
    except (TimeoutError, aiohttp.ClientError):
        return 0, None, {}


async def bookings_of(conn: asyncpg.Connection, event: UUID) -> dict[str, str]:
    """booking id -> status, from PostgreSQL."""
    return dict(await conn.fetch("select id::text, status from bookings where event_id = $1", event))
