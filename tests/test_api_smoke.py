"""Smoke: sign-up via /v1/me, auth config, problem bodies for unknown routes."""
from __future__ import annotations


async def test_me_signs_up_with_own_org(api_client, make_user, pool) -> None:
    user = await make_user()
    response = await api_client.get("/v1/me", headers=user.headers)
    me = await response.json()
    assert me["email"] == user.email
    assert me["memberships"] == [{"org_id": user.org_id, "org_name": f"{user.email.split('@')[0]}'s organization",
                                  "role": "orgAdmin"}]
    assert await pool.fetchval("select count(*) from users where email = $1", user.email) == 1
