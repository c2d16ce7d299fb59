"""Rate limits (issue 16, item 6): per client address only without a valid token, per user for
bookings and writes, per organization for invites, per user for organization creation; 429 with
Retry-After and a problem body; nothing written by a refused request."""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator

import jwt
import pytest

from api import keys
from api.ratelimit import Limit, RateLimiter
from happening_engine.config import RateLimitSettings
from happening_engine.constants import rate_key

from .token_claims import token_claims


@contextlib.contextmanager
def _tight(api_client, name: str, burst: int, refusal_delay: float = 0.0) -> Iterator[RateLimiter]:
    """The running app's `name` limit cut to `burst` requests, then one a minute, refusals answered
    `refusal_delay` s late; restored after."""
    limiter = api_client.app[keys.LIMITER]
    saved, saved_delay = getattr(limiter, name), limiter.refusal_delay
    setattr(limiter, name, Limit(saved.scope, 60_000, burst))
    limiter.refusal_delay = refusal_delay
    try:
        yield limiter
    finally:
        setattr(limiter, name, saved)
        limiter.refusal_delay = saved_delay


async def _assert_429(response) -> None:
    assert response.status == 429, await response.text()
    assert response.content_type == "application/problem+json"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    body = await response.json()
    assert body["status"] == 429 and body["title"] == "Too Many Requests" and body["limit"]


async def test_junk_tokens_from_one_address_are_throttled_not_its_users(api_client, make_user, redis,
                                                                       settings, dev_issuer, token) -> None:
    user = await make_user()
    junk = jwt.encode(token_claims("http://elsewhere.example"), dev_issuer.key, "RS256", {"kid": dev_issuer.kid})
    address_key = rate_key(settings.redis.prefix, "address", "127.0.0.1")
    await redis.delete(address_key)  # earlier tests' bad tokens from this address were charged to it
    try:
        with _tight(api_client, "address", 3):
            statuses = [(await api_client.get("/v1/me", headers={"Authorization": f"Bearer {junk}"})).status
                        for _ in range(3)]
            assert statuses == [401] * 3
            await _assert_429(await api_client.get("/v1/me", headers={"Authorization": f"Bearer {junk}"}))
            await _assert_429(await api_client.get("/v1/auth/config"))
            # a user with a valid token behind the same address is not throttled with them, nor is
            # one whose token the API has never seen (a new sign-in)
            for _ in range(5):
                assert (await api_client.get("/v1/me", headers=user.headers)).status == 200
            fresh = {"Authorization": f"Bearer {await token(f'fresh-{uuid.uuid4().hex[:8]}@example.test')}"}
            assert (await api_client.get("/v1/me", headers=fresh)).status == 200
    finally:
        await redis.delete(address_key)


async def test_bookings_per_user(api_client, make_user, make_event, pool) -> None:
    organizer, flooder, other = await make_user(), await make_user(), await make_user()
    events = [await make_event(organizer, total_slots=5) for _ in range(3)]
    with _tight(api_client, "booking", 2):
        for event in events[:2]:
            response = await api_client.post(f"/v1/events/{event['id']}/bookings", headers=flooder.headers,
                                             json={"seats": 1})
            assert response.status == 201
        before = await pool.fetchval("select count(*) from bookings where event_id = $1", uuid.UUID(events[2]["id"]))
        await _assert_429(await api_client.post(f"/v1/events/{events[2]['id']}/bookings", headers=flooder.headers,
                                                json={"seats": 1}))
        assert await pool.fetchval("select count(*) from bookings where event_id = $1",
                                   uuid.UUID(events[2]["id"])) == before
        response = await api_client.post(f"/v1/events/{events[2]['id']}/bookings", headers=other.headers,
                                         json={"seats": 1})
        assert response.status == 201  # another user's bucket is their own
        # reads are not writes
        assert (await api_client.get("/v1/bookings", headers=flooder.headers)).status == 200


async def test_other_writes_per_user(api_client, make_user) -> None:
    user = await make_user()
    with _tight(api_client, "write", 2):
        for name in ("a", "b"):
            response = await api_client.patch(f"/v1/organizations/{user.org_id}", headers=user.headers,
                                              json={"name": name})
            assert response.status == 200
        await _assert_429(await api_client.patch(f"/v1/organizations/{user.org_id}", headers=user.headers,
                                                 json={"name": "c"}))


async def test_a_refusal_is_answered_late(api_client, make_user) -> None:
    """A client flooding in a loop waits on its own connection, not in the event loop everyone shares
    (loadtests/flood_bench.py measures the effect); Retry-After counts from the answer."""
    user = await make_user()
    url = f"/v1/organizations/{user.org_id}"
    assert RateLimitSettings().refusal_delay_ms >= 500
    with _tight(api_client, "write", 1, refusal_delay=0.3):
        assert (await api_client.patch(url, headers=user.headers, json={"name": "a"})).status == 200
        started = time.monotonic()
        response = await api_client.patch(url, headers=user.headers, json={"name": "b"})
        assert time.monotonic() - started >= 0.3
        await _assert_429(response)
        assert int(response.headers["Retry-After"]) in (59, 60)  # 60 s to the next, less the 0.3 s held


async def test_invites_per_organization(api_client, make_user, pool) -> None:
    admin = await make_user()
    url = f"/v1/organizations/{admin.org_id}/invites"
    with _tight(api_client, "invite", 2):
        for i in range(2):
            response = await api_client.post(url, headers=admin.headers,
                                             json={"email": f"i{i}{uuid.uuid4().hex[:6]}@example.test", "role": "user"})
            assert response.status == 201
        await _assert_429(await api_client.post(url, headers=admin.headers,
                                                json={"email": "late@example.test", "role": "user"}))
    assert await pool.fetchval("select count(*) from org_invites where org_id = $1", uuid.UUID(admin.org_id)) == 2


async def test_organization_creation_per_user(api_client, make_user, pool) -> None:
    user = await make_user()
    with _tight(api_client, "org", 1):
        # an invalid body is refused by validation and costs nothing
        assert (await api_client.post("/v1/organizations", headers=user.headers, json={"name": ""})).status == 422
        assert (await api_client.post("/v1/organizations", headers=user.headers, json={"name": "One"})).status == 201
        await _assert_429(await api_client.post("/v1/organizations", headers=user.headers, json={"name": "Two"}))
    assert await pool.fetchval("select count(*) from organizations where created_by = $1", uuid.UUID(user.id)) == 2


def test_defaults_leave_a_person_alone_but_not_a_flood() -> None:
    """A person: a few dozen changes in a row (the locust setup's organizers: 40 events each, created
    and published), a booking every few seconds, a few organizations, a team invited; a flood of
    writes is held to a couple a second."""
    s = RateLimitSettings()
    assert s.enabled and 2 * 40 <= s.write_burst <= 200 and s.write_per_minute <= 200
    assert s.booking_per_minute >= 15 and s.booking_burst >= 10
    assert s.org_burst >= 5 and s.invite_burst >= 50 and s.address_burst >= 100


@pytest.mark.parametrize("cost", [0, 1])
async def test_script_allows_the_burst_then_the_rate(redis, settings, cost) -> None:
    limiter = RateLimiter(redis, f"{settings.redis.prefix}gcra{uuid.uuid4().hex[:6]}:",
                          RateLimitSettings(refusal_delay_ms=0))
    limit = Limit("test", 60_000, 3)
    ident = uuid.uuid4()
    for _ in range(3 if cost else 10):  # asking (cost 0) never empties the bucket
        await limiter.take(limit, ident, cost=cost)
    if cost:
        with pytest.raises(Exception) as refused:
            await limiter.take(limit, ident)
        assert refused.value.status == 429 and 58 <= refused.value.retry_after <= 60


async def test_checks_arriving_together_share_a_script_call_and_keep_each_bucket_exact(redis, settings) -> None:
    """300 checks at once over 3 buckets of bursts 50, 30 and 10: each bucket lets exactly its burst
    through, whatever batch its checks were decided in, in far fewer script calls than checks."""
    limiter = RateLimiter(redis, f"{settings.redis.prefix}gcra{uuid.uuid4().hex[:6]}:",
                          RateLimitSettings(refusal_delay_ms=0))
    calls = 0
    script = limiter._script

    async def counted(**kwargs):
        nonlocal calls
        calls += 1
        return await script(**kwargs)

    limiter._script = counted
    limits = [Limit("together", 60_000, burst) for burst in (50, 30, 10)]
    idents = [uuid.uuid4() for _ in limits]

    async def take(n: int) -> bool:
        try:
            await limiter.take(limits[n], idents[n])
        except Exception as exc:
            assert exc.status == 429
            return False
        return True

    outcomes = await asyncio.gather(*(take(i % 3) for i in range(300)))
    assert [sum(ok for i, ok in enumerate(outcomes) if i % 3 == n) for n in range(3)] == [50, 30, 10]
    assert calls <= 10, calls


async def test_a_users_writes_wait_for_their_places_in_flight_and_others_do_not() -> None:
    from api.ratelimit import InFlight

    in_flight, running, most = InFlight(2), {"a": 0, "b": 0}, {"a": 0, "b": 0}
    release = asyncio.Event()

    async def write(user: str) -> None:
        async with in_flight.hold(user):
            running[user] += 1
            most[user] = max(most[user], running[user])
            await release.wait()
            running[user] -= 1

    tasks = [asyncio.create_task(write("a")) for _ in range(5)] + [asyncio.create_task(write("b"))]
    for _ in range(20):
        await asyncio.sleep(0)
    assert running == {"a": 2, "b": 1}  # a's other three wait; b is not held up by them
    release.set()
    await asyncio.gather(*tasks)
    assert most == {"a": 2, "b": 1} and len(in_flight) == 0  # nothing left behind
