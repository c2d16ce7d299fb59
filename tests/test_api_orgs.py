"""Organizations, members, invites and the audit log (journey 1: orgAdmin invites an organizer)."""
from __future__ import annotations

import hashlib
import uuid
from datetime import UTC


async def test_invite_journey(api_client, make_user, token, pool) -> None:
    admin = await make_user()
    email = f"org{uuid.uuid4().hex[:8]}@example.test"
    response = await api_client.post(f"/v1/organizations/{admin.org_id}/invites", headers=admin.headers,
                                     json={"email": email.upper(), "role": "organizer"})
    assert response.status == 201, await response.text()
    invite = await response.json()
    assert invite["email"] == email and invite["role"] == "organizer" and invite["status"] == "pending"
    secret = invite["token"]
    # only the hash is stored; the email goes out as an org_invite notification with the org's name and
    # the token sealed (tests/test_auth_identity.py opens it)
    row = await pool.fetchrow("select token_hash, expires_at - created_at as ttl from org_invites where id = $1",
                              uuid.UUID(invite["id"]))
    assert bytes(row["token_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert row["ttl"].days == 7
    note = await pool.fetchrow("select recipient, message, payload::text as payload, status from notifications"
                               " where type = 'org_invite' and org_id = $1", uuid.UUID(admin.org_id))
    org_name = f"{admin.email.split('@')[0]}'s organization"
    assert note["recipient"] == email and org_name in note["message"]
    assert secret not in note["message"] and secret not in note["payload"]

    listed = await (await api_client.get(f"/v1/organizations/{admin.org_id}/invites", headers=admin.headers)).json()
    assert [i["id"] for i in listed["items"]] == [invite["id"]] and "token" not in listed["items"][0]

    # someone else cannot use the token
    stranger = await make_user()
    response = await api_client.post(f"/v1/invites/{secret}/accept", headers=stranger.headers)
    assert response.status == 403
    organizer = await make_user(email)
    response = await api_client.post(f"/v1/invites/{secret}/accept", headers=organizer.headers)
    assert response.status == 200, await response.text()
    response = await api_client.post(f"/v1/invites/{secret}/accept", headers=organizer.headers)
    assert response.status == 409  # single use

    me = await (await api_client.get("/v1/me", headers=organizer.headers)).json()
    assert {"org_id": admin.org_id, "org_name": org_name, "role": "organizer"} in me["memberships"]
    members = await (await api_client.get(f"/v1/organizations/{admin.org_id}/members",
                                          headers=admin.headers)).json()
    assert {(m["email"], m["role"]) for m in members["items"]} == {(admin.email, "orgAdmin"),
                                                                   (email, "organizer")}
    audit = await (await api_client.get(f"/v1/organizations/{admin.org_id}/audit-log",
                                        headers=admin.headers)).json()
    actions = [(a["entity"], a["action"]) for a in audit["items"]]
    assert ("invite", "created") in actions and ("invite", "accepted") in actions
    assert ("membership", "added") in actions
    only_invites = await (await api_client.get(f"/v1/organizations/{admin.org_id}/audit-log?entity=invite",
                                               headers=admin.headers)).json()
    assert {a["entity"] for a in only_invites["items"]} == {"invite"}
    assert (await api_client.get(f"/v1/organizations/{admin.org_id}/audit-log",
                                 headers=organizer.headers)).status == 403


async def test_revoked_and_expired_invites_cannot_be_used(api_client, make_user, pool) -> None:
    admin = await make_user()
    invitee = await make_user()
    tokens = []
    for _ in range(2):  # the first is revoked before the second is sent (one pending invite per email)
        response = await api_client.post(f"/v1/organizations/{admin.org_id}/invites", headers=admin.headers,
                                         json={"email": invitee.email, "role": "user"})
        tokens.append(await response.json())
        if len(tokens) == 1:
            response = await api_client.delete(f"/v1/organizations/{admin.org_id}/invites/{tokens[0]['id']}",
                                               headers=admin.headers)
            assert response.status == 204
    assert (await api_client.post(f"/v1/invites/{tokens[0]['token']}/accept", headers=invitee.headers)).status == 409
    await pool.execute("update org_invites set expires_at = now() - interval '1 second', created_at = now() - "
                       "interval '8 days' where id = $1", uuid.UUID(tokens[1]["id"]))
    assert (await api_client.post(f"/v1/invites/{tokens[1]['token']}/accept", headers=invitee.headers)).status == 409
    listed = await (await api_client.get(f"/v1/organizations/{admin.org_id}/invites", headers=admin.headers)).json()
    assert {i["status"] for i in listed["items"]} == {"revoked", "expired"}
    assert (await api_client.post("/v1/invites/" + "x" * 43 + "/accept", headers=invitee.headers)).status == 404


async def _join(api_client, admin, user, role: str) -> None:
    response = await api_client.post(f"/v1/organizations/{admin.org_id}/invites", headers=admin.headers,
                                     json={"email": user.email, "role": role})
    secret = (await response.json())["token"]
    assert (await api_client.post(f"/v1/invites/{secret}/accept", headers=user.headers)).status == 200


async def test_last_org_admin_cannot_leave_or_be_demoted(api_client, make_user, pool) -> None:
    admin = await make_user()
    base = f"/v1/organizations/{admin.org_id}/members"
    assert (await api_client.patch(f"{base}/{admin.id}", headers=admin.headers,
                                   json={"role": "user"})).status == 409
    assert (await api_client.delete(f"{base}/{admin.id}", headers=admin.headers)).status == 409
    other = await make_user()
    await _join(api_client, admin, other, "user")
    response = await api_client.patch(f"{base}/{other.id}", headers=admin.headers, json={"role": "orgAdmin"})
    assert response.status == 200 and (await response.json())["role"] == "orgAdmin"
    assert (await api_client.patch(f"{base}/{admin.id}", headers=other.headers, json={"role": "user"})).status == 200
    # admin is now a plain user: loses admin access at once
    assert (await api_client.get(base, headers=admin.headers)).status == 403
    assert (await api_client.delete(f"{base}/{other.id}", headers=other.headers)).status == 409
    assert (await api_client.delete(f"{base}/{admin.id}", headers=other.headers)).status == 204
    assert (await api_client.get(f"/v1/organizations/{admin.org_id}", headers=admin.headers)).status == 404
    rows = await pool.fetch("select action from audit_log where org_id = $1 and entity = 'membership'"
                            " order by id", uuid.UUID(admin.org_id))
    assert [r["action"] for r in rows] == ["added", "added", "role_changed", "role_changed", "removed"]


async def test_create_list_rename_organizations(api_client, make_user, pool) -> None:
    user = await make_user()
    response = await api_client.post("/v1/organizations", headers=user.headers, json={"name": "Acme Events"})
    assert response.status == 201
    org = await response.json()
    assert org["name"] == "Acme Events" and org["role"] == "orgAdmin"
    page1 = await (await api_client.get("/v1/organizations?limit=1", headers=user.headers)).json()
    assert len(page1["items"]) == 1 and page1["next_cursor"]
    page2 = await (await api_client.get(f"/v1/organizations?limit=1&cursor={page1['next_cursor']}",
                                        headers=user.headers)).json()
    assert page2["next_cursor"] is None
    assert {page1["items"][0]["id"], page2["items"][0]["id"]} == {org["id"], user.org_id}
    response = await api_client.patch(f"/v1/organizations/{org['id']}", headers=user.headers,
                                      json={"name": "Acme Live"})
    assert response.status == 200 and (await response.json())["name"] == "Acme Live"
    row = await pool.fetchrow("select before, after from audit_log where entity_id = $1 and action = 'renamed'",
                              uuid.UUID(org["id"]))
    assert row["before"] == {"name": "Acme Events"} and row["after"] == {"name": "Acme Live"}


async def test_concurrent_first_requests_sign_up_once(api_client, token, pool) -> None:
    import asyncio

    email = f"race{uuid.uuid4().hex[:8]}@example.test"
    access = await token(email)
    responses = await asyncio.gather(*(api_client.get("/v1/me", headers={"Authorization": f"Bearer {access}"})
                                       for _ in range(10)))
    assert [r.status for r in responses] == [200] * 10
    assert await pool.fetchval("select count(*) from users where email = $1", email) == 1
    assert await pool.fetchval("select count(*) from organization_users m join users u on u.id = m.user_id"
                               " where u.email = $1", email) == 1


async def test_invite_needs_a_verified_email(api_client, make_user, dev_issuer) -> None:
    import time

    import jwt

    admin, invitee = await make_user(), await make_user()
    response = await api_client.post(f"/v1/organizations/{admin.org_id}/invites", headers=admin.headers,
                                     json={"email": invitee.email, "role": "user"})
    secret = (await response.json())["token"]
    now = int(time.time())
    claims = jwt.decode(invitee.token, options={"verify_signature": False})
    unverified = jwt.encode({**claims, "email_verified": False, "iat": now, "nbf": now, "exp": now + 600},
                            dev_issuer.key, "RS256", {"kid": dev_issuer.kid})
    response = await api_client.post(f"/v1/invites/{secret}/accept",
                                     headers={"Authorization": f"Bearer {unverified}"})
    assert response.status == 403
    assert (await api_client.post(f"/v1/invites/{secret}/accept", headers=invitee.headers)).status == 200


async def test_audit_log_filters_and_pages(api_client, make_user, join_org, make_event) -> None:
    from datetime import datetime, timedelta

    admin, organizer = await make_user(), await make_user()
    await join_org(admin, organizer, "organizer")
    await make_event(organizer, publish=False, org_id=admin.org_id)
    base = f"/v1/organizations/{admin.org_id}/audit-log"
    by_organizer = await (await api_client.get(f"{base}?actor={organizer.id}", headers=admin.headers)).json()
    assert {(a["entity"], a["action"]) for a in by_organizer["items"]} == {
        ("membership", "added"), ("invite", "accepted"), ("event", "created")}
    events = await (await api_client.get(f"{base}?entity=event", headers=admin.headers)).json()
    assert [a["actor_id"] for a in events["items"]] == [organizer.id]
    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    assert (await (await api_client.get(f"{base}?from={future}", headers=admin.headers)).json())["items"] == []
    everything = (await (await api_client.get(base, headers=admin.headers)).json())["items"]
    paged, cursor = [], None
    while True:
        page = await (await api_client.get(f"{base}?limit=2" + (f"&cursor={cursor}" if cursor else ""),
                                           headers=admin.headers)).json()
        paged += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [a["id"] for a in paged] == [a["id"] for a in everything] and len(everything) >= 6


async def test_a_second_pending_invite_to_one_email_is_a_conflict(api_client, make_user) -> None:
    admin = await make_user()
    path = f"/v1/organizations/{admin.org_id}/invites"
    body = {"email": f"twice-{admin.id[:8]}@example.test", "role": "user"}
    first = await api_client.post(path, headers=admin.headers, json=body)
    assert first.status == 201
    again = await api_client.post(path, headers=admin.headers, json={**body, "email": body["email"].upper()})
    assert again.status == 409 and (await again.json())["invite_id"] == (await first.json())["id"]
    revoked = await api_client.delete(f"{path}/{(await first.json())['id']}", headers=admin.headers)
    assert revoked.status == 204
    assert (await api_client.post(path, headers=admin.headers, json=body)).status == 201  # free again
