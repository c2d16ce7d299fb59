"""Strict validation: 422 naming the field and nothing written; 413 bodies; problem+json for routing errors."""
from __future__ import annotations

import pytest

from .row_counts import row_counts

EVENT = {"name": "N", "category": "concert", "starts_at": "2099-01-01T10:00:00Z",
         "ends_at": "2099-01-01T12:00:00Z", "total_slots": 10}
CASES = [
    # (method, path template, body, field)
    ("post", "/v1/organizations", {"name": "x", "extra": 1}, "extra"),
    ("post", "/v1/organizations", {"name": 5}, "name"),
    ("post", "/v1/organizations", {"name": ""}, "name"),
    ("post", "/v1/organizations", {}, "name"),
    ("post", "/v1/organizations", [1, 2], "body"),
    ("post", "/v1/organizations", "{not json", "body"),
    ("patch", "/v1/organizations/{org}", {"name": "x" * 201}, "name"),
    ("patch", "/v1/organizations/not-a-uuid", {"name": "ok"}, "org"),
    ("post", "/v1/organizations/{org}/invites", {"email": "nope", "role": "user"}, "email"),
    ("post", "/v1/organizations/{org}/invites", {"email": "a@b.test", "role": "orgAdmin"}, "role"),
    ("patch", "/v1/organizations/{org}/members/{me}", {"role": "owner"}, "role"),
    ("delete", "/v1/organizations/{org}/members/123", None, "user"),
    ("post", "/v1/organizations/{org}/events", {**EVENT, "total_slots": 0}, "total_slots"),
    ("post", "/v1/organizations/{org}/events", {**EVENT, "total_slots": "10"}, "total_slots"),
    ("post", "/v1/organizations/{org}/events", {**EVENT, "total_slots": True}, "total_slots"),
    ("post", "/v1/organizations/{org}/events", {**EVENT, "total_slots": 10.5}, "total_slots"),
    ("post", "/v1/organizations/{org}/events", {**EVENT, "category": "party"}, "category"),
    ("post", "/v1/organizations/{org}/events", {**EVENT, "starts_at": "tomorrow"}, "starts_at"),
    ("post", "/v1/organizations/{org}/events", {**EVENT, "starts_at": "2099-01-01T10:00:00"}, "starts_at"),
    ("post", "/v1/organizations/{org}/events", {**EVENT, "ends_at": "2099-01-01T09:00:00Z"}, "ends_at"),
    ("post", "/v1/organizations/{org}/events", {**EVENT, "visibility": "secret"}, "visibility"),
    ("post", "/v1/organizations/{org}/events", {**EVENT, "max_seats_per_booking": -1}, "max_seats_per_booking"),
    ("post", "/v1/organizations/{org}/events", {**EVENT, "id": "x"}, "id"),
    ("post", "/v1/organizations/{org}/events", {k: v for k, v in EVENT.items() if k != "name"}, "name"),
    ("post", "/v1/events/{event}/bookings", {"seats": 0}, "seats"),
    ("post", "/v1/events/{event}/bookings", {"seats": 1.5}, "seats"),
    ("post", "/v1/events/{event}/bookings", {"seats": 1, "note": "hi"}, "note"),
    ("post", "/v1/events/{event}/bookings", {"seats": 11}, "seats"),
    ("post", "/v1/events/bad-id/bookings", {"seats": 1}, "event"),
    ("patch", "/v1/events/{event}", {"total_slots": -5}, "total_slots"),
    ("patch", "/v1/events/{event}", {}, "body"),
    ("patch", "/v1/events/{event}", {"status": "cancelled"}, "status"),
    ("get", "/v1/events?limit=0", None, "limit"),
    ("get", "/v1/events?limit=201", None, "limit"),
    ("get", "/v1/events?limit=ten", None, "limit"),
    ("get", "/v1/events?org=nope", None, "org"),
    ("get", "/v1/events?from=yesterday", None, "from"),
    ("get", "/v1/events?cursor=%%%", None, "cursor"),
    ("get", "/v1/events?colour=red", None, "colour"),
    ("get", "/v1/bookings/xyz", None, "booking"),
    ("get", "/v1/events/{event}/bookings?status=lost", None, "status"),
    ("get", "/v1/organizations/{org}/audit-log?actor=me", None, "actor"),
]


@pytest.fixture(scope="module")
async def ctx(make_user, make_event):
    user = await make_user()
    event = await make_event(user, total_slots=20)
    return user, event


@pytest.mark.parametrize("method,path,body,field", CASES)
async def test_malformed_input_is_422_and_writes_nothing(api_client, pool, ctx, method, path, body, field) -> None:
    user, event = ctx
    url = path.format(org=user.org_id, me=user.id, event=event["id"])
    before = await row_counts(pool)
    kwargs = {"data": body} if isinstance(body, str) else {"json": body} if body is not None else {}
    response = await getattr(api_client, method)(url, headers=user.headers, **kwargs)
    assert response.status == 422, await response.text()
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["field"] == field and problem["status"] == 422 and problem["title"]
    assert await row_counts(pool) == before


async def test_body_over_64_kib_is_413(api_client, pool, ctx) -> None:
    user, _ = ctx
    before = await row_counts(pool)
    response = await api_client.post("/v1/organizations", headers=user.headers,
                                     json={"name": "x" * (65 * 1024)})
    assert response.status == 413
    assert response.content_type == "application/problem+json"
    assert (await response.json())["status"] == 413
    assert await row_counts(pool) == before


async def test_routing_errors_are_problems(api_client, ctx) -> None:
    user, _ = ctx
    response = await api_client.get("/v1/nothing-here", headers=user.headers)
    assert response.status == 404 and response.content_type == "application/problem+json"
    response = await api_client.delete("/v1/me", headers=user.headers)
    assert response.status == 405 and response.content_type == "application/problem+json"
    assert "GET" in response.headers["Allow"]


async def test_request_id_is_echoed(api_client, ctx) -> None:
    user, _ = ctx
    response = await api_client.get("/v1/me", headers={**user.headers, "X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    response = await api_client.get("/v1/me", headers=user.headers)
    assert len(response.headers["X-Request-ID"]) == 32


async def test_access_log_line(api_client, ctx) -> None:
    import structlog

    user, _ = ctx
    with structlog.testing.capture_logs() as logs:
        await api_client.get("/v1/me", headers={**user.headers, "X-Request-ID": "log-me"})
    line = next(entry for entry in logs if entry["event"] == "request")
    assert line["method"] == "GET" and line["path"] == "/v1/me" and line["status"] == 200
    assert line["user_id"] == user.id and line["latency_ms"] >= 0


async def test_a_booking_requests_log_line_names_its_event_and_booking(api_client, make_user, ctx) -> None:
    import structlog

    _, event = ctx
    booker = await make_user()
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = await api_client.post(f"/v1/events/{event['id']}/bookings", headers=booker.headers,
                                         json={"seats": 1})
    booking = await response.json()
    line = next(entry for entry in logs if entry["event"] == "request")
    assert (line["event_id"], line["booking_id"], line["user_id"]) == (event["id"], booking["id"], booker.id)
    assert line["request_id"] == response.headers["X-Request-ID"]


async def test_an_integral_number_written_with_a_fraction_is_an_integer(api_client, make_user, make_event) -> None:
    """JSON has one number type: 3.0 is the integer 3 (as JSON Schema, and so the OpenAPI document, count it)."""
    organizer, user = await make_user(), await make_user()
    event = await make_event(organizer, total_slots=10.0)
    assert event["total_slots"] == 10
    response = await api_client.post(f"/v1/events/{event['id']}/bookings", headers=user.headers, json={"seats": 3.0})
    assert response.status == 201, await response.text()
    assert (await response.json())["seats"] == 3
