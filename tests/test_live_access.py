"""A live stream seen through a membership ends once the member is removed from the organization."""
from __future__ import annotations

from api import live
from tests.live_client import Stream


async def test_a_removed_members_event_stream_ends_and_cannot_be_reopened(api_client, make_user, make_event,
                                                                          join_org, monkeypatch) -> None:
    monkeypatch.setattr(live, "RECHECK_SECONDS", 0.0)  # ask at every wake-up instead of every 15 s
    admin, removed, staying = await make_user(), await make_user(), await make_user()
    await join_org(admin, removed, "user")
    await join_org(admin, staying, "user")
    event = await make_event(admin, total_slots=10, visibility="members")
    path = f"/v1/events/{event['id']}/live"
    streams = {}
    for who in (removed, staying):
        response = await api_client.get(path, headers=who.headers)
        assert response.status == 200, await response.text()
        streams[who.id] = Stream(response)
        first = await streams[who.id].next()
        assert first is not None and first.data["available_slots"] == 10

    response = await api_client.delete(f"/v1/organizations/{admin.org_id}/members/{removed.id}", headers=admin.headers)
    assert response.status == 204, await response.text()
    response = await api_client.post(f"/v1/events/{event['id']}/bookings", headers=admin.headers, json={"seats": 2})
    assert response.status == 201, await response.text()

    pushed = await streams[staying.id].until(lambda m: m.data.get("available_slots") == 8)
    assert pushed.event == "state"
    assert await streams[removed.id].next() is None  # ended without the change
    assert all(m.data.get("available_slots") != 8 for m in streams[removed.id].seen)
    response = await api_client.get(path, headers=removed.headers)
    assert response.status == 404
    for stream in streams.values():
        stream.close()
