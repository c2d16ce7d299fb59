"""No 5xx from any input (issue 16, items 8-10): control characters, lone surrogates, deep JSON,
overflowing datetimes, oversized cursor integers, hostile token headers and claims, clients that go
away mid-body, and connections that trickle their headers or body."""
from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest
import structlog
from aiohttp import web

from api import keys
from api.middlewares import MIDDLEWARES
from api.validation import Field, json_body
from happening.processes import make_runner
from happening_engine.config import HttpSettings, Settings

from .row_counts import row_counts

EVENT = {"name": "N", "category": "concert", "starts_at": "2099-01-01T10:00:00Z",
         "ends_at": "2099-01-01T12:00:00Z", "total_slots": 10}
NUL, SURROGATE = "\\u0000", "\\ud800"  # as JSON escapes, so the raw body carries them
LOW, HIGH = "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"


def _raw(body: dict[str, Any], field: str, escape: str) -> str:
    """`body` as JSON with `escape` (a JSON escape sequence) inside the string value of `field`."""
    text = json.dumps({**body, field: "x@MARK"})
    return text.replace("@MARK", escape)


BODY_CASES = [
    # (method, path, body, field, escape)
    *[("post", "/v1/organizations", {"name": "x"}, "name", e) for e in (NUL, SURROGATE, "\\n", "\\r", "\\u2028")],
    *[("patch", "/v1/organizations/{org}", {"name": "x"}, "name", e) for e in (NUL, SURROGATE, "\\r\\n")],
    *[("post", "/v1/organizations/{org}/events", EVENT, "name", e) for e in (NUL, SURROGATE, "\\n", "\\u001b")],
    *[("post", "/v1/organizations/{org}/events", EVENT, "description", e) for e in (NUL, SURROGATE, "\\u007f")],
    *[("patch", "/v1/events/{event}", {}, "description", e) for e in (NUL, SURROGATE)],
    *[("patch", "/v1/events/{event}", {}, "name", e) for e in (NUL, "\\n")],
]
QUERY_CASES = [
    ("/v1/events?q=a%00b", "q"), ("/v1/events?q=a%0Ab", "q"),
    *[(f"/v1/events?{name}={value}", name) for name in ("from", "to") for value in (LOW, HIGH)],
    *[(f"/v1/organizations/{{org}}/audit-log?{name}={value}", name)
      for name in ("from", "to") for value in (LOW, HIGH)],
    ("/v1/events?cursor=", "cursor"),
]


@pytest.fixture(scope="module")
async def ctx(make_user, make_event):
    user = await make_user()
    event = await make_event(user, publish=False, total_slots=20)
    return user, event


async def _refused(api_client, pool, response, field: str, before: dict[str, int]) -> None:
    assert response.status == 422, await response.text()
    assert response.content_type == "application/problem+json"
    assert (await response.json())["field"] == field
    assert await row_counts(pool) == before


@pytest.mark.parametrize("method,path,body,field,escape", BODY_CASES)
async def test_control_characters_and_lone_surrogates_are_422(api_client, pool, ctx, method, path, body, field,
                                                              escape) -> None:
    """Also PATCH of an event: refused before the engine, never a 503 'please retry'."""
    user, event = ctx
    url = path.format(org=user.org_id, event=event["id"])
    before = await row_counts(pool)
    response = await getattr(api_client, method)(url, headers={**user.headers, "Content-Type": "application/json"},
                                                 data=_raw(body, field, escape))
    await _refused(api_client, pool, response, field, before)


@pytest.mark.parametrize("path,field", QUERY_CASES)
async def test_bad_query_text_and_out_of_range_times_are_422(api_client, pool, ctx, path, field) -> None:
    user, _ = ctx
    before = await row_counts(pool)
    response = await api_client.get(path.format(org=user.org_id).replace("+", "%2B"), headers=user.headers)
    await _refused(api_client, pool, response, field, before)


async def test_multiline_description_keeps_its_line_breaks(api_client, ctx) -> None:
    user, _ = ctx
    response = await api_client.post(f"/v1/organizations/{user.org_id}/events", headers=user.headers,
                                     json={**EVENT, "description": "Line one\r\nLine two\n\ttabbed"})
    assert response.status == 201, await response.text()
    assert (await response.json())["description"] == "Line one\r\nLine two\n\ttabbed"


@pytest.mark.parametrize("email", ["root,postmaster,b@c.de", "A <a@b.de>", "a@b.de, c@d.de", "a b@c.de",
                                   "a@b.de\r\nBcc: c@d.de", "\"q\"@b.de", "a@localhost", "a@b.de\u0000"])
async def test_invite_email_is_one_addr_spec(api_client, pool, ctx, email) -> None:
    user, _ = ctx
    before = await row_counts(pool)
    response = await api_client.post(f"/v1/organizations/{user.org_id}/invites", headers=user.headers,
                                     json={"email": email, "role": "user"})
    await _refused(api_client, pool, response, "email", before)


@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
@pytest.mark.parametrize("value", [LOW, HIGH])
async def test_body_datetimes_that_overflow_utc_are_422(api_client, pool, ctx, field, value) -> None:
    user, event = ctx
    before = await row_counts(pool)
    response = await api_client.post(f"/v1/organizations/{user.org_id}/events", headers=user.headers,
                                     json={**EVENT, field: value})
    await _refused(api_client, pool, response, field, before)
    response = await api_client.patch(f"/v1/events/{event['id']}", headers=user.headers, json={field: value})
    await _refused(api_client, pool, response, field, before)


def _cursor(*values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", ["/v1/events/{event}/waitlist", "/v1/organizations/{org}/audit-log"])
@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
async def test_integer_cursors_past_int64_are_422(api_client, pool, ctx, path, value) -> None:
    user, event = ctx
    before = await row_counts(pool)
    url = path.format(org=user.org_id, event=event["id"]) + f"?cursor={_cursor(value)}"
    await _refused(api_client, pool, await api_client.get(url, headers=user.headers), "cursor", before)


@pytest.mark.parametrize("when", [LOW, HIGH, "0000-01-01T00:00:00Z"])
async def test_time_cursors_out_of_range_are_422(api_client, pool, ctx, when) -> None:
    user, _ = ctx
    before = await row_counts(pool)
    url = f"/v1/events?cursor={_cursor(when, str(uuid.uuid4()))}"
    await _refused(api_client, pool, await api_client.get(url, headers=user.headers), "cursor", before)


async def test_json_nested_deep_under_the_size_limit_is_422(api_client, pool, ctx) -> None:
    user, _ = ctx
    before = await row_counts(pool)
    for body in ("[" * 30_000 + "]" * 30_000, '{"name": ' + "[" * 30_000 + "]" * 30_000 + "}"):
        response = await api_client.post("/v1/organizations", headers={**user.headers,
                                         "Content-Type": "application/json"}, data=body)
        await _refused(api_client, pool, response, "body", before)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


async def test_a_jwt_header_nested_deep_is_401(api_client) -> None:
    for header in (b"[" * 3000 + b"]" * 3000, b'{"alg":' + b"[" * 2000 + b"]" * 2000 + b"}"):
        token = f"{_b64(header)}.{_b64(b'{}')}.{_b64(b'sig')}"
        response = await api_client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 401, await response.text()
        assert response.content_type == "application/problem+json"


def _token(dev_issuer, **claims: object) -> str:
    now = int(time.time())
    base = {"iss": dev_issuer.issuer, "aud": "happening-api", "azp": "happening-api", "sub": str(uuid.uuid4()),
            "email": f"h{uuid.uuid4().hex[:8]}@example.test", "email_verified": True, "name": "Hostile",
            "iat": now, "exp": now + 600, "typ": "Bearer"}
    return jwt.encode({**base, **claims}, dev_issuer.key, "RS256", {"kid": dev_issuer.kid})


@pytest.mark.parametrize("email", ["a\u0000b@example.test", "a\ud800@example.test", "x,y@example.test",
                                   "a@b.test\r\nBcc: c@d.test", "nobody", 42])
async def test_a_token_email_that_is_not_one_address_is_401(api_client, pool, dev_issuer, email) -> None:
    users = await pool.fetchval("select count(*) from users")
    token = _token(dev_issuer, email=email)
    response = await api_client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 401, await response.text()
    assert await pool.fetchval("select count(*) from users") == users


async def test_a_token_name_with_control_characters_signs_up_clean(api_client, dev_issuer) -> None:
    token = _token(dev_issuer, name="Ada\u0000 \ud800Love\r\nlace\u001b")
    response = await api_client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    assert (await response.json())["full_name"] == "Ada Love lace"


async def _wait_for(logs: list[dict[str, Any]], event: str, timeout: float = 3.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [entry for entry in logs if entry["event"] == event]
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {event} log line")


async def _leave_mid_body(host: str, port: int, path: str, headers: str = "") -> list[dict[str, Any]]:
    """Send a request's headers and part of its body, hang up; the log lines of that request."""
    with structlog.testing.capture_logs() as logs:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Type: application/json\r\n"
                     "Content-Length: 1000\r\n\r\n{\"name\": ".encode())
        await writer.drain()
        await asyncio.sleep(0.2)  # the handler is waiting for the rest of the body
        writer.close()
        await _wait_for(logs, "request")
    return logs


async def test_a_client_gone_mid_body_is_not_a_500(api_client, ctx) -> None:
    """Whether the server cancels the handler (the test server) or the read fails (`happening serve`)."""
    user, _ = ctx
    logs = await _leave_mid_body(api_client.server.host, api_client.server.port, "/v1/organizations",
                                 f"Authorization: Bearer {user.token}\r\n")
    runner, port = await _serve(HttpSettings())
    try:
        logs += await _leave_mid_body("127.0.0.1", port, "/echo")
    finally:
        await runner.cleanup()
    assert [entry["status"] for entry in logs if entry["event"] == "request"] == [499, 499]
    assert not [entry for entry in logs if entry["event"] == "unhandled_error"]


async def _serve(http: HttpSettings) -> tuple[web.AppRunner, int]:
    """A small app whose one route reads a JSON body as every handler does."""
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await json_body(request, {"name": Field("str")}))

    app = web.Application(middlewares=MIDDLEWARES)
    app[keys.SETTINGS] = Settings(http=http)
    app.router.add_post("/echo", echo)
    runner = make_runner(app, http)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def test_trickled_headers_are_cut_off() -> None:
    """A byte of header every 0.1 s keeps no connection open past the header timeout."""
    runner, port = await _serve(HttpSettings(header_timeout=0.5))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()

        async def trickle() -> None:
            for char in "POST /echo HTTP/1.1\r\nHost: x\r\nX-Slow: " + "a" * 100:
                writer.write(char.encode())
                await asyncio.sleep(0.1)

        trickling = asyncio.create_task(trickle())
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed without an answer
        assert time.monotonic() - started < 2
        trickling.cancel()
        writer.close()
    finally:
        await runner.cleanup()


async def test_a_trickled_body_times_out_with_408() -> None:
    runner, port = await _serve(HttpSettings(header_timeout=5, body_timeout=0.3))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{")
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 3)
        assert status_line.startswith(b"HTTP/1.1 408"), status_line
        writer.close()
    finally:
        await runner.cleanup()
