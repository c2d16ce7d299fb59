"""Identity bound to the issuer's word (issue 16, items 2-5): only access tokens pass, email and name
follow each verified token, invites reach the invited address with their token only sealed, JWKS
encryption keys are skipped quietly, and a genuine new kid passes right after a junk-kid flood."""
from __future__ import annotations

import asyncio
import json
import time
import uuid

import jwt
import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric import rsa

from api import keys
from api.tokens import REFRESH_INTERVAL
from happening_engine.sealed import Sealer
from happening_engine.worker.wording import wording

from .token_claims import token_claims


def _signed(dev_issuer, claims: dict[str, object], header: dict[str, object] | None = None) -> str:
    return jwt.encode(claims, dev_issuer.key, "RS256", {"kid": dev_issuer.kid, **(header or {})})


async def _status(api_client, token: str) -> int:
    return (await api_client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})).status


@pytest.mark.parametrize("typ_claim,typ_header,status", [
    ("Bearer", None, 200),  # Keycloak's access tokens
    (None, "at+jwt", 200),  # RFC 9068
    (None, "application/at+jwt", 200),
    ("ID", None, 401),  # Keycloak's ID tokens, even with our audience
    ("Refresh", None, 401),
    (None, None, 401),
    (None, "JWT", 401),
])
async def test_only_access_tokens_pass(api_client, dev_issuer, typ_claim, typ_header, status) -> None:
    claims = token_claims(dev_issuer.issuer, typ=typ_claim)
    token = _signed(dev_issuer, claims, {"typ": typ_header} if typ_header else None)
    assert await _status(api_client, token) == status


async def test_the_dev_issuers_id_token_is_refused(api_client, dev_issuer) -> None:
    session = type("S", (), {"id": "s1", "email": "idt@example.test", "name": "Id", "auth_time": int(time.time()),
                             "expires_at": time.time() + 600})()
    dev_issuer.store.new_refresh_token = lambda *args: "r"  # type: ignore[method-assign]
    try:
        tokens = dev_issuer.tokens(session, "happening-api", None, "openid")
    finally:
        del dev_issuer.store.new_refresh_token
    assert await _status(api_client, str(tokens["access_token"])) == 200
    assert await _status(api_client, str(tokens["id_token"])) == 401


async def test_email_and_name_follow_each_verified_token(api_client, dev_issuer, pool) -> None:
    sub = str(uuid.uuid4())
    first = token_claims(dev_issuer.issuer, sub=sub, email="old@example.test", name="Old Name")
    me = await (await api_client.get("/v1/me", headers={"Authorization": f"Bearer {_signed(dev_issuer, first)}"}
                                     )).json()
    assert (me["email"], me["full_name"]) == ("old@example.test", "Old Name")
    moved = token_claims(dev_issuer.issuer, sub=sub, email="New@Example.test", name="New Name")
    me = await (await api_client.get("/v1/me", headers={"Authorization": f"Bearer {_signed(dev_issuer, moved)}"}
                                     )).json()
    assert (me["email"], me["full_name"]) == ("new@example.test", "New Name")
    row = await pool.fetchrow("select email, full_name from users where keycloak_id = $1", sub)
    assert (row["email"], row["full_name"]) == ("new@example.test", "New Name")
    nameless = token_claims(dev_issuer.issuer, sub=sub, email="new@example.test", name=None)
    me = await (await api_client.get("/v1/me", headers={"Authorization": f"Bearer {_signed(dev_issuer, nameless)}"}
                                     )).json()
    assert me["full_name"] == "New Name"  # a token without a name keeps the one we have


async def test_an_invite_goes_to_the_address_with_its_token_sealed(api_client, dev_issuer, make_user, pool,
                                                                   settings) -> None:
    """Even when an unverified account claims the address first, the notice is not tied to it; the
    token is nowhere readable in the row, and the worker's key opens it into the emailed link."""
    admin = await make_user()
    email = f"inv{uuid.uuid4().hex[:8]}@example.test"
    squatter = _signed(dev_issuer, token_claims(dev_issuer.issuer, email=email, email_verified=False))
    assert await _status(api_client, squatter) == 200
    response = await api_client.post(f"/v1/organizations/{admin.org_id}/invites", headers=admin.headers,
                                     json={"email": email, "role": "user"})
    secret = (await response.json())["token"]
    note = await pool.fetchrow("select * from notifications where type = 'org_invite' and recipient = $1", email)
    assert note["user_id"] is None
    assert secret not in note["message"] and secret not in json.dumps(note["payload"])
    sealer = Sealer(settings.notify.invite_keys)
    assert sealer.open(note["payload"]["token_sealed"]) == secret
    assert Sealer("another key").open(note["payload"]["token_sealed"]) is None
    url = f"http://app.example/invites/accept?token={secret}"
    assert url in wording({**dict(note), "org_name": "X"}, url).text
    assert "Ask the person who invited you" in wording({**dict(note), "org_name": "X"}).text
    # the unverified account cannot accept it; nor see it
    response = await api_client.post(f"/v1/invites/{secret}/accept", headers={"Authorization": f"Bearer {squatter}"})
    assert response.status == 403


def test_sealer_rotates_keys() -> None:
    old, new = Sealer("k1"), Sealer("k2,k1")
    assert new.open(old.seal("tok")) == "tok" and old.open(new.seal("tok")) is None
    assert Sealer(None).seal("tok") is None and Sealer(None).open("x") is None


async def test_encryption_keys_in_the_jwks_are_skipped_quietly(api_client, dev_issuer) -> None:
    verifier = api_client.app[keys.AUTH]
    enc = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048).public_key()))
    enc.update(kid="enc-key", use="enc", alg="RSA-OAEP")
    rsa_jwks = dev_issuer.jwks
    dev_issuer.jwks = lambda: {"keys": [*rsa_jwks()["keys"], enc]}
    try:
        verifier._fetched_at = float("-inf")
        with structlog.testing.capture_logs() as logs:
            await verifier.key_for("not-there")
        assert [entry for entry in logs if entry["log_level"] == "warning"] == []
        assert "enc-key" not in verifier._keys and dev_issuer.kid in verifier._keys
    finally:
        del dev_issuer.jwks
        verifier._fetched_at = float("-inf")


async def test_a_new_kid_passes_right_after_a_junk_kid_flood(api_client, dev_issuer, token) -> None:
    """Junk kids cost one fetch per interval; the genuine kid of a rotation that follows is not refused."""
    verifier = api_client.app[keys.AUTH]
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier._fetched_at = float("-inf")
    before, flood_started = verifier.fetches, time.monotonic()
    junk = [jwt.encode(token_claims(dev_issuer.issuer), other, "RS256", {"kid": f"junk-{i}"}) for i in range(30)]
    assert set(await asyncio.gather(*(_status(api_client, t) for t in junk[:10]))) == {401}
    old_key, old_kid = dev_issuer.key, dev_issuer.kid
    dev_issuer.key, dev_issuer.kid = rsa.generate_private_key(65537, 2048), uuid.uuid4().hex[:16]
    try:
        started = time.monotonic()
        fresh = await token(f"rot{uuid.uuid4().hex[:8]}@example.test")
        statuses = await asyncio.gather(_status(api_client, fresh),
                                        *(_status(api_client, t) for t in junk[10:]))
        assert statuses == [200] + [401] * 20
        assert time.monotonic() - started < REFRESH_INTERVAL + 1.5
        # at most one fetch per interval, however many junk kids
        assert verifier.fetches - before <= 1 + (time.monotonic() - flood_started) / REFRESH_INTERVAL
    finally:
        dev_issuer.key, dev_issuer.kid = old_key, old_kid
        verifier._fetched_at = float("-inf")
        await verifier.key_for(old_kid)
