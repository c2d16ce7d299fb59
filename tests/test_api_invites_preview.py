"""GET /v1/invites/{token}: the invited person sees the organization and role before accepting."""
from __future__ import annotations

import time
import uuid

import jwt


async def _invite(api_client, admin, email: str, role: str = "organizer") -> dict:
    response = await api_client.post(f"/v1/organizations/{admin.org_id}/invites", headers=admin.headers,
                                     json={"email": email, "role": role})
    assert response.status == 201, await response.text()
    return await response.json()


async def test_the_invited_person_previews_then_accepts(api_client, make_user, pool) -> None:
    admin, invitee = await make_user(), await make_user()
    invite = await _invite(api_client, admin, invitee.email.upper())
    response = await api_client.get(f"/v1/invites/{invite['token']}", headers=invitee.headers)
    assert response.status == 200, await response.text()
    preview = await response.json()
    org_name = f"{admin.email.split('@')[0]}'s organization"
    assert preview == {"org_id": admin.org_id, "org_name": org_name, "role": "organizer",
                       "email": invitee.email, "status": "pending", "expires_at": invite["expires_at"]}
    assert (await api_client.post(f"/v1/invites/{invite['token']}/accept", headers=invitee.headers)).status == 200
    after = await (await api_client.get(f"/v1/invites/{invite['token']}", headers=invitee.headers)).json()
    assert after["status"] == "accepted"
    # an invite past its expiry reads as expired, and the expiry is recorded
    other = await make_user()
    late = await _invite(api_client, admin, other.email, "user")
    await pool.execute("update org_invites set expires_at = now() - interval '1 second' where id = $1",
                       uuid.UUID(late["id"]))
    expired = await (await api_client.get(f"/v1/invites/{late['token']}", headers=other.headers)).json()
    assert expired["status"] == "expired"
    assert await pool.fetchval("select status from org_invites where id = $1", uuid.UUID(late["id"])) == "expired"


async def test_anyone_else_learns_nothing(api_client, make_user, dev_issuer) -> None:
    admin, invitee, stranger = await make_user(), await make_user(), await make_user()
    invite = await _invite(api_client, admin, invitee.email)
    for user in (stranger, admin):  # another email, even the org's own admin: 404 like an unknown token
        response = await api_client.get(f"/v1/invites/{invite['token']}", headers=user.headers)
        assert response.status == 404 and response.content_type == "application/problem+json"
        assert "organization" not in await response.text()
    now = int(time.time())
    claims = jwt.decode(invitee.token, options={"verify_signature": False})
    unverified = jwt.encode({**claims, "email_verified": False, "iat": now, "nbf": now, "exp": now + 600},
                            dev_issuer.key, "RS256", {"kid": dev_issuer.kid})
    response = await api_client.get(f"/v1/invites/{invite['token']}", headers={"Authorization": f"Bearer {unverified}"})
    assert response.status == 404
    assert (await api_client.get("/v1/invites/" + "x" * 43, headers=invitee.headers)).status == 404
    assert (await api_client.get("/v1/invites/short", headers=invitee.headers)).status == 422
    assert (await api_client.get(f"/v1/invites/{invite['token']}?x=1", headers=invitee.headers)).status == 422
    assert (await api_client.get(f"/v1/invites/{invite['token']}")).status == 401
