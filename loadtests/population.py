"""Setting up a load run through the real API: tokens from the dev issuer, users signed up with one
`GET /v1/me` each, events created and published by an organizer (the orgAdmin of its own org).
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")
R = TypeVar("R")
CONCURRENCY = 32


async def bounded(items: Iterable[T], fn: Callable[[T], Awaitable[R]], limit: int = CONCURRENCY) -> list[R]:
    """`fn` over `items` with at most `limit` in flight; results in the order of `items`."""
    semaphore = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with semaphore:
            return await fn(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


class Population:
    """An HTTP client for setup requests against one API and its issuer."""

    def __init__(self, session: aiohttp.ClientSession, api: str, issuer: str) -> None:
        self.session, self.api, self.issuer = session, api.rstrip("/"), issuer.rstrip("/")

    async def token(self, email: str) -> str:
        form = {"grant_type": "password", "client_id": "happening-api", "username": email, "password": "x"}
        async with self.session.post(f"{self.issuer}/protocol/openid-connect/token", data=form) as response:
            if response.status != 200:
                raise RuntimeError(f"token for {email}: {response.status} {await response.text()}")
            return str((await response.json())["access_token"])

    async def _call(self, method: str, path: str, token: str, body: Any = None, expect: int = 200) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.session.request(method, self.api + path, headers=headers, json=body) as response:
            if response.status != expect:
                raise RuntimeError(f"{method} {path}: {response.status} {await response.text()}")
            return await response.json()

    async def sign_up(self, token: str) -> dict[str, Any]:
        """The first authenticated request creates the user and its organization."""
        return dict(await self._call("GET", "/v1/me", token))

    async def users(self, emails: list[str]) -> list[str]:
        """A token per email, each user signed up; returns the tokens."""
        tokens = await self.tokens(emails)
        await bounded(tokens, self.sign_up)
        return tokens

    async def tokens(self, emails: list[str]) -> list[str]:
        """A new token per email (unique `jti`: no server has verified it yet)."""
        return await bounded(emails, self.token)

    async def event(self, token: str, org_id: str, slots: int, name: str) -> str:
        """A public concert a week ahead with `slots` seats, created and published; its id."""
        start = datetime.now(UTC) + timedelta(days=7)
        body = {"name": name, "category": "concert", "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=3)).isoformat(), "total_slots": slots,
                "max_seats_per_booking": 4}
        event = await self._call("POST", f"/v1/organizations/{org_id}/events", token, body, expect=201)
        await self._call("POST", f"/v1/events/{event['id']}/publish", token)
        return str(event["id"])

    async def events(self, token: str, org_id: str, count: int, slots: int, name: str) -> list[str]:
        return await bounded(range(count), lambda i: self.event(token, org_id, slots, f"{name} {i}"), limit=8)
