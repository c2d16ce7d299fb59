"""Authorization matrix: every /v1 route x {anonymous, user of another org, plain member, organizer,
orgAdmin} gets the expected status. A test also checks that the matrix covers every registered route."""
from __future__ import annotations

import uuid

import pytest

ROLES = ("anonymous", "outsider", "member", "organizer", "orgAdmin")
ORG, EV, OEV = "/v1/organizations/{org}", "/v1/events/{event}", "/v1/organizations/{org}/events/{event}"
NEW_EVENT = {"name": "M", "category": "concert", "starts_at": "2099-01-01T10:00:00Z",
             "ends_at": "2099-01-01T12:00:00Z", "total_slots": 10}
MANAGE = (401, 404, 403, 200, 200)
ADMIN_ONLY = (401, 404, 403, 403, 200)
ANY_USER = (401, 200, 200, 200, 200)
MEMBER = (401, 404, 200, 200, 200)
# (method, path, body, expected per role, fresh resource to create for each call)
MATRIX = [
    ("GET", "/v1/auth/config", None, (200,) * 5, None),
    ("GET", "/v1/openapi.json", None, (200,) * 5, None),
    ("GET", "/v1/me", None, ANY_USER, None),
    ("POST", "/v1/organizations", {"name": "Mine"}, (401, 201, 201, 201, 201), None),
    ("GET", "/v1/organizations", None, ANY_USER, None),
    ("GET", ORG, None, MEMBER, None),
    ("PATCH", ORG, {"name": "Matrix org"}, ADMIN_ONLY, None),
    ("GET", ORG + "/members", None, ADMIN_ONLY, None),
    ("PATCH", ORG + "/members/{user}", {"role": "orgAdmin"}, ADMIN_ONLY, None),
    ("DELETE", ORG + "/members/{user}", None, (401, 404, 403, 403, 409), None),
    ("POST", ORG + "/invites", {"email": "matrix@example.test", "role": "user"}, (401, 404, 403, 403, 201), None),
    ("GET", ORG + "/invites", None, ADMIN_ONLY, None),
    ("DELETE", ORG + "/invites/{invite}", None, (401, 404, 403, 403, 204), "invite"),
    ("GET", "/v1/invites/{token}", None, (401, 404, 404, 404, 404), "invite"),  # only the invited email sees it
    ("POST", "/v1/invites/{token}/accept", None, (401, 403, 403, 403, 403), "invite"),
    ("GET", ORG + "/audit-log", None, ADMIN_ONLY, None),
    ("POST", ORG + "/events", NEW_EVENT, (401, 404, 403, 201, 201), None),
    ("GET", ORG + "/events", None, MEMBER, None),
    ("GET", "/v1/events", None, ANY_USER, None),
    ("POST", EV + "/bookings", {"seats": 1}, (401, 404, 201, 201, 201), "event"),
    ("GET", "/v1/bookings", None, ANY_USER, None),
    ("GET", "/v1/bookings/{booking}", None, MEMBER, None),
    ("GET", "/v1/bookings/{booking}/history", None, MEMBER, None),
    ("POST", "/v1/bookings/{booking}/cancel", None, MEMBER, "booking"),
    ("GET", "/v1/notifications", None, ANY_USER, None),
    ("GET", "/v1/me/live", None, ANY_USER, None),
    ("GET", EV + "/live", None, MEMBER, None),
]
for base in (EV, OEV):
    MATRIX += [
        ("GET", base, None, MEMBER, None),
        ("PATCH", base, {"description": "changed"}, MANAGE, None),
        ("POST", base + "/publish", None, (401, 404, 404, 200, 200), "draft"),  # drafts: organizers only
        ("POST", base + "/cancel", None, MANAGE, "event"),
        ("GET", base + "/bookings", None, MANAGE, None),
        ("GET", base + "/waitlist", None, MANAGE, None),
        ("GET", base + "/stats", None, MANAGE, None),
        ("GET", base + "/bookings.csv", None, MANAGE, None),
    ]


@pytest.fixture(scope="module")
async def world(api_client, make_user, join_org, make_event):
    """One org (members-only event, a member's booking) and a user of another org."""
    admin, organizer, member, outsider = [await make_user() for _ in range(4)]
    await join_org(admin, organizer, "organizer")
    await join_org(admin, member, "user")
    users = {"outsider": outsider, "member": member, "organizer": organizer, "orgAdmin": admin}

    async def fresh(kind: str | None) -> dict[str, str]:
        if kind == "invite":
            response = await api_client.post(f"/v1/organizations/{admin.org_id}/invites", headers=admin.headers,
                                              json={"email": f"i{uuid.uuid4().hex[:8]}@example.test", "role": "user"})
            invite = await response.json()
            return {"invite": invite["id"], "token": invite["token"]}
        if kind == "draft":
            return {"event": (await make_event(admin, publish=False, visibility="members"))["id"]}
        event = await make_event(admin, visibility="members", total_slots=100)
        if kind in ("event", None):
            return {"event": event["id"]}
        response = await api_client.post(f"/v1/events/{event['id']}/bookings", headers=member.headers,
                                         json={"seats": 1})
        assert response.status == 201
        return {"event": event["id"], "booking": (await response.json())["id"]}

    base = {"org": admin.org_id, "user": admin.id, **await fresh("booking")}
    return users, base, fresh


def _id(row) -> str:
    return f"{row[0]} {row[1]}"


@pytest.mark.parametrize("row", MATRIX, ids=_id)
async def test_matrix(api_client, world, row) -> None:
    method, path, body, expected, kind = row
    users, base, fresh = world
    got = []
    for role in ROLES:
        values = {**base, **(await fresh(kind) if kind else {})}
        headers = users[role].headers if role != "anonymous" else {}
        response = await api_client.request(method, path.format(**values), headers=headers, json=body)
        if response.status >= 400:
            assert response.content_type == "application/problem+json", (role, await response.text())
        elif path.endswith(".csv"):
            assert response.content_type == "text/csv", (role, response.content_type)
        elif path.endswith("/live"):
            assert response.content_type == "text/event-stream", (role, response.content_type)
            response.close()  # a stream never ends by itself
        got.append(response.status)
    assert tuple(got) == expected, dict(zip(ROLES, got))


def test_matrix_covers_every_route(api_client) -> None:
    registered = {(r.method, r.resource.canonical) for r in api_client.app.router.routes()
                  if r.resource is not None and r.resource.canonical.startswith("/v1") and r.method != "HEAD"}
    assert registered == {(m, p) for m, p, *_ in MATRIX}
