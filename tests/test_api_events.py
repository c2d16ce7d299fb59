"""Events: draft, publish, update, cancel (through the engine), visibility and listing."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta


async def test_organizer_creates_and_publishes_event(api_client, make_user, join_org, make_event, pool) -> None:
    admin, organizer, outsider = await make_user(), await make_user(), await make_user()
    await join_org(admin, organizer, "organizer")
    draft = await make_event(organizer, publish=False, org_id=admin.org_id, name="Hack night",
                             category="hackathon", total_slots=50)
    assert draft["status"] == "draft" and draft["available_slots"] == 50 and draft["waitlist_length"] == 0
    assert draft["max_seats_per_booking"] == 10 and draft["visibility"] == "public"
    assert draft["org_id"] == admin.org_id
    # a draft is invisible outside the org's organizers
    assert (await api_client.get(f"/v1/events/{draft['id']}", headers=outsider.headers)).status == 404
    assert (await api_client.get(f"/v1/events/{draft['id']}", headers=organizer.headers)).status == 200
    response = await api_client.post(f"/v1/events/{draft['id']}/publish", headers=organizer.headers)
    assert response.status == 200, await response.text()
    event = await response.json()
    assert event["status"] == "upcoming"
    response = await api_client.get(f"/v1/events/{draft['id']}", headers=outsider.headers)
    assert response.status == 200 and (await response.json())["available_slots"] == 50
    again = await api_client.post(f"/v1/events/{draft['id']}/publish", headers=organizer.headers)
    assert again.status == 200 and await again.json() == event  # a retried publish: the first answer
    for action in ("created", "published"):
        audit = await pool.fetchval("select count(*) from audit_log where entity = 'event' and action = $2"
                                    " and entity_id = $1", uuid.UUID(draft["id"]), action)
        assert audit == 1, action


async def test_update_and_cancel_through_the_engine(api_client, make_user, make_event, pool) -> None:
    organizer = await make_user()
    event = await make_event(organizer, total_slots=5)
    url = f"/v1/organizations/{organizer.org_id}/events/{event['id']}"
    response = await api_client.patch(url, headers=organizer.headers, json={"total_slots": 8, "name": "Renamed"})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["total_slots"] == 8 and body["available_slots"] == 8 and body["name"] == "Renamed"
    response = await api_client.patch(url, headers=organizer.headers,
                                      json={"ends_at": event["starts_at"]})
    assert response.status == 422 and (await response.json())["field"] == "ends_at"
    response = await api_client.post(f"/v1/events/{event['id']}/cancel", headers=organizer.headers)
    assert response.status == 200 and (await response.json())["status"] == "cancelled"
    cancelled = await response.json()
    response = await api_client.post(f"/v1/events/{event['id']}/cancel", headers=organizer.headers)
    assert response.status == 200 and await response.json() == cancelled  # a retried cancel: the first answer
    response = await api_client.patch(url, headers=organizer.headers, json={"name": "Again"})
    assert response.status == 409
    audit = await pool.fetchval("select count(*) from audit_log where entity = 'event' and action = 'cancelled'"
                                " and entity_id = $1", uuid.UUID(event["id"]))
    assert audit == 1


async def test_members_only_events_and_listing(api_client, make_user, join_org, make_event) -> None:
    org_admin, member, outsider = await make_user(), await make_user(), await make_user()
    await join_org(org_admin, member, "user")
    category = "webinar"
    base = datetime.now(UTC) + timedelta(days=30 + uuid.uuid4().int % 1000)
    made = []
    for i in range(5):
        start = base + timedelta(hours=i)
        made.append(await make_event(org_admin, name=f"W{i}", category=category,
                                     visibility="members" if i % 2 else "public",
                                     starts_at=start.isoformat(), ends_at=(start + timedelta(hours=1)).isoformat()))
    await make_event(org_admin, publish=False, name="draft", category=category, starts_at=base.isoformat(),
                     ends_at=(base + timedelta(hours=1)).isoformat())
    members_only = made[1]
    assert (await api_client.get(f"/v1/events/{members_only['id']}", headers=outsider.headers)).status == 404
    assert (await api_client.get(f"/v1/events/{members_only['id']}", headers=member.headers)).status == 200

    query = f"category={category}&org={org_admin.org_id}&from={base.isoformat().replace('+00:00', 'Z')}"
    seen, cursor = [], None
    while True:
        url = f"/v1/events?{query}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = await (await api_client.get(url, headers=member.headers)).json()
        assert len(page["items"]) <= 2
        seen += [e["name"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["W0", "W1", "W2", "W3", "W4"]
    page = await (await api_client.get(f"/v1/events?{query}", headers=outsider.headers)).json()
    assert [e["name"] for e in page["items"]] == ["W0", "W2", "W4"]
    to = (base + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    page = await (await api_client.get(f"/v1/events?{query}&to={to}", headers=member.headers)).json()
    assert [e["name"] for e in page["items"]] == ["W0", "W1"]
    org_page = await (await api_client.get(f"/v1/organizations/{org_admin.org_id}/events",
                                           headers=member.headers)).json()
    assert "draft" not in [e["name"] for e in org_page["items"]]
    org_page = await (await api_client.get(f"/v1/organizations/{org_admin.org_id}/events",
                                           headers=org_admin.headers)).json()
    assert "draft" in [e["name"] for e in org_page["items"]]


async def test_patch_rejects_a_past_start_and_blank_org_names(api_client, make_user, make_event) -> None:
    organizer = await make_user()
    event = await make_event(organizer)
    response = await api_client.patch(f"/v1/events/{event['id']}", headers=organizer.headers,
                                      json={"starts_at": "2020-01-01T00:00:00Z"})
    assert response.status == 422 and (await response.json())["field"] == "starts_at"
    response = await api_client.patch(f"/v1/organizations/{organizer.org_id}", headers=organizer.headers,
                                      json={"name": "   "})
    assert response.status == 422 and (await response.json())["field"] == "name"


async def test_an_orgs_event_paths_are_for_its_members(api_client, make_user, make_event) -> None:
    organizer, stranger = await make_user(), await make_user()
    event = await make_event(organizer)  # public and published
    assert (await api_client.get(f"/v1/events/{event['id']}", headers=stranger.headers)).status == 200
    scoped = await api_client.get(f"/v1/organizations/{organizer.org_id}/events/{event['id']}",
                                  headers=stranger.headers)
    assert scoped.status == 404


async def test_listing_searches_names_and_names_the_organization(api_client, make_user, make_event) -> None:
    organizer, viewer = await make_user(), await make_user()
    tag = uuid.uuid4().hex[:8]
    wanted = await make_event(organizer, name=f"Jazz {tag} Night")
    await make_event(organizer, name=f"Rock {tag}")
    org_name = (await (await api_client.get("/v1/me", headers=organizer.headers)).json())["memberships"][0]["org_name"]
    response = await api_client.get("/v1/events", params={"q": f"jazz {tag.upper()}"}, headers=viewer.headers)
    assert response.status == 200, await response.text()
    items = (await response.json())["items"]
    assert [e["id"] for e in items] == [wanted["id"]]
    assert items[0]["org_name"] == org_name
    response = await api_client.get("/v1/events", params={"q": ""}, headers=viewer.headers)
    assert response.status == 422 and (await response.json())["field"] == "q"
