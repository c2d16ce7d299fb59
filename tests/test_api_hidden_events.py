"""Hidden events answer exactly as missing ones (status and body), and an event cancelled before it
was ever published stays hidden (issue 16, item 7)."""
from __future__ import annotations

import uuid

import pytest

REQUESTS = [
    ("get", "/v1/events/{event}", None),
    ("post", "/v1/events/{event}/bookings", {"seats": 1}),
    ("patch", "/v1/events/{event}", {"name": "Mine now"}),
    ("post", "/v1/events/{event}/publish", None),
    ("post", "/v1/events/{event}/cancel", None),
    ("get", "/v1/events/{event}/bookings", None),
    ("get", "/v1/events/{event}/waitlist", None),
    ("get", "/v1/events/{event}/stats", None),
    ("get", "/v1/events/{event}/live", None),
]


@pytest.fixture(scope="module")
async def hidden(api_client, make_user, make_event):
    """An org's draft, members-only event and never-published cancelled event; an outsider."""
    owner, outsider = await make_user(), await make_user()
    draft = await make_event(owner, publish=False)
    members = await make_event(owner, visibility="members")
    cancelled = await make_event(owner, publish=False)
    response = await api_client.post(f"/v1/events/{cancelled['id']}/cancel", headers=owner.headers)
    assert response.status == 200 and (await response.json())["status"] == "cancelled"
    return owner, outsider, {"draft": draft["id"], "members-only": members["id"], "cancelled draft": cancelled["id"]}


async def _answer(api_client, user, method: str, path: str, body: object, event_id: str) -> tuple[int, object]:
    kwargs = {"json": body} if body is not None else {}
    response = await getattr(api_client, method)(path.format(event=event_id), headers=user.headers, **kwargs)
    return response.status, await response.json(content_type=None)


@pytest.mark.parametrize("method,path,body", REQUESTS)
@pytest.mark.parametrize("kind", ["draft", "members-only", "cancelled draft"])
async def test_a_hidden_event_answers_as_a_missing_one(api_client, hidden, method, path, body, kind) -> None:
    _, outsider, events = hidden
    missing = await _answer(api_client, outsider, method, path, body, str(uuid.uuid4()))
    assert missing[0] == 404
    assert await _answer(api_client, outsider, method, path, body, events[kind]) == missing


async def test_an_event_cancelled_before_publishing_stays_hidden_from_members(api_client, make_user, join_org,
                                                                              hidden) -> None:
    owner, _, events = hidden
    member = await make_user()
    await join_org(owner, member, "user")
    assert (await api_client.get(f"/v1/events/{events['cancelled draft']}", headers=member.headers)).status == 404
    listed = await (await api_client.get(f"/v1/organizations/{owner.org_id}/events", headers=member.headers)).json()
    assert events["cancelled draft"] not in [e["id"] for e in listed["items"]]
    assert events["members-only"] in [e["id"] for e in listed["items"]]
    # its organizers still see it, cancelled
    response = await api_client.get(f"/v1/events/{events['cancelled draft']}", headers=owner.headers)
    assert response.status == 200 and (await response.json())["status"] == "cancelled"
