"""Rate limits in Redis, one GCRA bucket per client address, user or organization (`lua/ratelimit.lua`),
shared by every API process; which limits, and why so: docs/contract.md §2. If Redis cannot
answer, the request passes (logged): a limiter must not take the API down with it."""
from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

import structlog
from aiohttp import web
from prometheus_client import Counter
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from happening_engine.batch import Batcher
from happening_engine.config import RateLimitSettings
from happening_engine.connections import RedisClient
from happening_engine.constants import LUA_DIR, rate_key
from happening_engine.errors import DomainError, Unauthorized

from . import keys

log = structlog.get_logger(__name__)
REFUSED = Counter("happening_rate_limited_total", "Requests refused by a rate limit", ["scope"])
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BOOKING_ROUTES = frozenset({("POST", "/v1/events/{event}/bookings"), ("POST", "/v1/bookings/{booking}/cancel")})
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class RateLimited(DomainError):
    status = 429
    title = "Too Many Requests"

    def __init__(self, scope: str, retry_after: int) -> None:
        super().__init__(f"too many requests ({scope}); retry in {retry_after} s", limit=scope)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    """`burst` requests at once, then one per `interval_ms`."""

    scope: str
    interval_ms: int
    burst: int

    @classmethod
    def per(cls, scope: str, count: int, seconds: int, burst: int) -> Limit:
        return cls(scope, max(1, seconds * 1000 // max(count, 1)), burst)


Check = tuple[str, Limit, int]  # a bucket's key, its limit, the cost


class RateLimiter:
    """The buckets of one key prefix. The checks that arrive together share one EVALSHA (a request's
    check cost more CPU in redis-py than the rest of a booking's Redis work); on a Redis Cluster, whose
    scripts must stay in one slot, each check is its own."""

    def __init__(self, redis: RedisClient, prefix: str, settings: RateLimitSettings) -> None:
        self._script = redis.register_script((LUA_DIR / "ratelimit.lua").read_text())
        self._checks: Batcher[Check, tuple[int, int]] | None = None
        if not isinstance(redis, RedisCluster):
            self._checks = Batcher(self._check_together, max_size=256, max_wait=0.0, name="rate-limits")
        self._prefix = prefix
        s = settings
        self.address = Limit.per("address", s.address_per_minute, 60, s.address_burst)
        self.booking = Limit.per("booking", s.booking_per_minute, 60, s.booking_burst)
        self.write = Limit.per("write", s.write_per_minute, 60, s.write_burst)
        self.invite = Limit.per("invite", s.invite_per_hour, 3600, s.invite_burst)
        self.org = Limit.per("organization", s.org_per_hour, 3600, s.org_burst)
        self.refusal_delay = s.refusal_delay_ms / 1000
        self.in_flight = InFlight(s.write_in_flight)

    async def take(self, limit: Limit, ident: object, *, cost: int = 1) -> None:
        """Take one request from `ident`'s bucket (cost 0: only ask); `RateLimited` when it is empty."""
        check = (rate_key(self._prefix, limit.scope, ident), limit, cost)
        try:
            if self._checks is not None:
                allowed, wait_ms = await self._checks.submit(check)
            else:
                [(allowed, wait_ms)] = await self._check_together([check])
        except (RedisError, OSError) as exc:
            log.warning("rate_limit_unchecked", scope=limit.scope, error=repr(exc))
            return
        if not allowed:
            REFUSED.labels(limit.scope).inc()
            await asyncio.sleep(self.refusal_delay)
            raise RateLimited(limit.scope, max(1, math.ceil(int(wait_ms) / 1000 - self.refusal_delay)))


    async def _check_together(self, checks: list[Check]) -> list[tuple[int, int]]:
        flat = await self._script(keys=[key for key, _, _ in checks],
                                  args=[n for _, limit, cost in checks for n in (limit.interval_ms, limit.burst, cost)])
        return [(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]


def limiter(request: web.Request) -> RateLimiter | None:
    return request.app.get(keys.LIMITER)


@web.middleware
async def address_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outside authentication: a request that ends unauthenticated takes from its address's bucket (one with
    no token at all asks first). A token is verified before the address is asked, so users behind an
    address a junk-token flood emptied still get in with a valid token."""
    rl = limiter(request)
    if rl is None or not request.path.startswith("/v1/"):
        return await handler(request)
    address = request.remote or "unknown"
    if "Authorization" not in request.headers:
        await rl.take(rl.address, address, cost=0)
    try:
        response = await handler(request)
    except Unauthorized:
        await rl.take(rl.address, address)
        raise
    if keys.USER not in request:
        await rl.take(rl.address, address)
    return response


class InFlight:
    """At most `limit` requests of one user at a time in this process; the rest wait their turn. A
    user's burst of writes then holds at most `limit` of the database connections (and row locks)
    that everyone else needs, however generous the rate limits are for bulk work."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._users: dict[object, _Places] = {}

    def hold(self, user: object) -> _Places:
        """`async with in_flight.hold(user):` runs once one of the user's places is free."""
        places = self._users.get(user)
        if places is None:
            places = self._users[user] = _Places(self._users, user, self.limit)
        return places

    def __len__(self) -> int:
        return len(self._users)


class _Places:
    """One user's places; it leaves the table when nobody holds or waits for one. A class rather than
    an asynccontextmanager: every write request enters one, and a generator costs several times more."""

    __slots__ = ("_count", "_semaphore", "_table", "_user")

    def __init__(self, table: dict[object, _Places], user: object, limit: int) -> None:
        self._table, self._user = table, user
        self._semaphore = asyncio.Semaphore(limit)
        self._count = 0  # holding + waiting

    async def __aenter__(self) -> None:
        self._count += 1
        try:
            await self._semaphore.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *_: object) -> None:
        self._semaphore.release()
        self._leave()

    def _leave(self) -> None:
        self._count -= 1
        if self._count == 0:
            del self._table[self._user]


@web.middleware
async def user_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside authentication: a user's bookings and other writes, each write waiting for one of the
    user's places in flight."""
    rl, user = limiter(request), request.get(keys.USER)
    if rl is None or user is None or request.method not in WRITES:
        return await handler(request)
    route = request.match_info.route.resource
    booking = (request.method, route.canonical if route else "") in BOOKING_ROUTES
    await rl.take(rl.booking if booking else rl.write, user.id)
    async with rl.in_flight.hold(user.id):
        return await handler(request)


async def take_invite(request: web.Request, org_id: UUID) -> None:
    if (rl := limiter(request)) is not None:
        await rl.take(rl.invite, org_id)


async def take_org_creation(request: web.Request, user_id: UUID) -> None:
    if (rl := limiter(request)) is not None:
        await rl.take(rl.org, user_id)
