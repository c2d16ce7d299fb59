"""Token validation: only RS256/ES256 tokens signed by a JWKS key, for our issuer and audience."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from api import keys
from api.jws import ALPHABET, HOOK, FastSegmentJWS
from api.tokens import DECODER

from .token_claims import token_claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unsigned(header: dict[str, object], claims: dict[str, object], key: bytes | None = None) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = _b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest()) if key else ""
    return f"{signing_input}.{signature}"


def _tampered(token: str, change) -> str:
    signing_input, signature = token.rsplit(".", 1)
    return f"{signing_input}.{change(signature)}"


def _other_spare_bits(signature: str) -> str:
    """The same signature bytes, encoded with the last character's unused bits set (non-canonical)."""
    alphabet = ALPHABET.decode()
    last = alphabet.index(signature[-1])
    return signature[:-1] + alphabet[last | 0b1111]


def _attacks(dev_issuer) -> dict[str, str]:
    iss, key, kid = dev_issuer.issuer, dev_issuer.key, dev_issuer.kid
    good = token_claims(iss)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    return {
        "alg none": _unsigned({"alg": "none", "typ": "JWT", "kid": kid}, good),
        "HS256 with the public key": _unsigned({"alg": "HS256", "typ": "JWT", "kid": kid}, good, public_pem),
        "wrong issuer": jwt.encode(token_claims("http://evil.example/realms/happening"), key, "RS256", {"kid": kid}),
        "wrong audience": jwt.encode(token_claims(iss, aud="other-api", azp="other-api"), key, "RS256", {"kid": kid}),
        "expired": jwt.encode(token_claims(iss, iat=now - 7200, nbf=now - 7200, exp=now - 3600), key, "RS256",
                              {"kid": kid}),
        "nbf in the future": jwt.encode(token_claims(iss, nbf=now + 3600), key, "RS256", {"kid": kid}),
        "no exp": jwt.encode(token_claims(iss, exp=None), key, "RS256", {"kid": kid}),
        "unknown kid": jwt.encode(good, other_key, "RS256", {"kid": "not-a-known-kid"}),
        "known kid, other key": jwt.encode(good, other_key, "RS256", {"kid": kid}),
        "RS512": jwt.encode(good, key, "RS512", {"kid": kid}),
        "junk in the signature": _tampered(jwt.encode(good, key, "RS256", {"kid": kid}), lambda s: s + "!!!!"),
        "signature not canonical": _tampered(jwt.encode(good, key, "RS256", {"kid": kid}), _other_spare_bits),
        "garbage": "not.a.token",
        "empty": "",
    }


async def test_valid_token_passes(api_client, token) -> None:
    access = await token(f"ok{uuid.uuid4().hex[:8]}@example.test")
    response = await api_client.get("/v1/me", headers={"Authorization": f"Bearer {access}"})
    assert response.status == 200


async def test_azp_is_accepted_when_aud_differs(api_client, dev_issuer) -> None:
    claims = token_claims(dev_issuer.issuer, aud="account", azp="happening-api")
    access = jwt.encode(claims, dev_issuer.key, "RS256", {"kid": dev_issuer.kid})
    response = await api_client.get("/v1/me", headers={"Authorization": f"Bearer {access}"})
    assert response.status == 200


@pytest.mark.parametrize("attack", ["alg none", "HS256 with the public key", "wrong issuer", "wrong audience",
                                    "expired", "nbf in the future", "no exp", "unknown kid",
                                    "known kid, other key", "RS512", "junk in the signature",
                                    "signature not canonical", "garbage", "empty"])
async def test_token_attacks_are_401(api_client, dev_issuer, pool, attack: str) -> None:
    users_before = await pool.fetchval("select count(*) from users")
    access = _attacks(dev_issuer)[attack]
    response = await api_client.get("/v1/me", headers={"Authorization": f"Bearer {access}"})
    assert response.status == 401, await response.text()
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert await pool.fetchval("select count(*) from users") == users_before


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer  "])
async def test_missing_or_wrong_scheme_is_401(api_client, header) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = await api_client.get("/v1/me", headers=headers)
    assert response.status == 401
    assert response.content_type == "application/problem+json"


async def test_unknown_kids_refetch_at_most_once(api_client, dev_issuer) -> None:
    """A flood of tokens with unknown kids costs at most one JWKS fetch per refresh interval."""
    import asyncio

    from api.tokens import REFRESH_INTERVAL

    verifier = api_client.app[keys.AUTH]
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    verifier._fetched_at = float("-inf")  # as if the last refetch was long ago
    before, started = verifier.fetches, time.monotonic()
    tokens = [jwt.encode(token_claims(dev_issuer.issuer), other_key, "RS256", {"kid": f"kid-{i}"}) for i in range(50)]
    responses = await asyncio.gather(*(api_client.get("/v1/me", headers={"Authorization": f"Bearer {t}"})
                                       for t in tokens))
    assert [r.status for r in responses] == [401] * 50
    assert verifier.fetches - before <= 1 + (time.monotonic() - started) / REFRESH_INTERVAL


async def test_rotated_key_is_picked_up(api_client, dev_issuer, token) -> None:
    """When the issuer rotates its key, a token with the new kid triggers one refetch and passes."""
    verifier = api_client.app[keys.AUTH]
    old_key, old_kid = dev_issuer.key, dev_issuer.kid
    dev_issuer.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    dev_issuer.kid = uuid.uuid4().hex[:16]
    try:
        verifier._fetched_at = float("-inf")
        access = await token(f"rot{uuid.uuid4().hex[:8]}@example.test")
        response = await api_client.get("/v1/me", headers={"Authorization": f"Bearer {access}"})
        assert response.status == 200, await response.text()
    finally:
        dev_issuer.key, dev_issuer.kid = old_key, old_kid
        verifier._fetched_at = float("-inf")
        await verifier.key_for(old_kid)


async def test_es256_tokens_of_an_ec_key_in_the_jwks_pass(api_client, dev_issuer) -> None:
    """Keycloak realms may sign with ES256: such a key in the JWKS verifies its tokens, and a forged
    or non-canonically encoded signature is refused as for RS256."""
    verifier = api_client.app[keys.AUTH]
    ec_key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    jwk.update(kid="ec-key", use="sig", alg="ES256")
    rsa_jwks = dev_issuer.jwks
    dev_issuer.jwks = lambda: {"keys": [*rsa_jwks()["keys"], jwk]}
    try:
        verifier._fetched_at = float("-inf")
        access = jwt.encode(token_claims(dev_issuer.issuer), ec_key, "ES256", {"kid": "ec-key"})
        forged = jwt.encode(token_claims(dev_issuer.issuer), ec.generate_private_key(ec.SECP256R1()), "ES256",
                            {"kid": "ec-key"})
        statuses = [(await api_client.get("/v1/me", headers={"Authorization": f"Bearer {t}"})).status
                    for t in (access, _tampered(access, _other_spare_bits), forged)]
        assert statuses == [200, 401, 401]
    finally:
        del dev_issuer.jwks
        verifier._fetched_at = float("-inf")


async def test_a_token_expires_even_after_it_was_accepted(api_client, dev_issuer) -> None:
    """Verified tokens are remembered for speed, never past their expiry (plus the clock leeway)."""
    access = dev_issuer.issue(f"late{uuid.uuid4().hex[:8]}@example.test", ttl=-9)  # leeway is 10 s
    headers = {"Authorization": f"Bearer {access}"}
    assert (await api_client.get("/v1/me", headers=headers)).status == 200
    await asyncio.sleep(1.5)
    response = await api_client.get("/v1/me", headers=headers)
    assert response.status == 401


def _segment_outcome(check, segment: bytes) -> bytes | str:
    try:
        return check(segment, "x")
    except jwt.DecodeError:
        return "rejected"


@pytest.mark.skipif(not hasattr(jwt.PyJWS, HOOK), reason="this pyjwt has no segment check to replace")
def test_fast_segment_check_agrees_with_pyjwts_own() -> None:
    """The tokens' decoder uses api.jws's segment check; it must accept and reject exactly what
    the installed pyjwt's own check does (canonical base64url, at most two '=' of valid padding)."""
    assert isinstance(DECODER._jws, FastSegmentJWS)
    rng = random.Random(7)
    valid = [base64.urlsafe_b64encode(rng.randbytes(n)) for n in range(12)]
    samples = [b"", b"!!!!", b"====", b"A===", b"AA==", b"AAA=", b"AB", b"AB==", b"QQ", b"QR", b"a b", b"a\n"]
    samples += valid + [v.rstrip(b"=") for v in valid] + [v + b"=" for v in valid]
    samples += [bytes(rng.choice(b"AQgw-_9z=+/!. ") for _ in range(rng.randrange(9))) for _ in range(20_000)]
    rejected = 0
    for segment in samples:
        expected = _segment_outcome(jwt.PyJWS._decode_base64url_segment, segment)
        assert _segment_outcome(FastSegmentJWS._decode_base64url_segment, segment) == expected, segment
        rejected += expected == "rejected"
    assert 0 < rejected < len(samples)  # both kinds were exercised
