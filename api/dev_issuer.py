"""A small Keycloak-compatible OIDC issuer for local runs and tests (Keycloak cannot run here).

It speaks Keycloak's paths under `/realms/happening`: discovery, JWKS (`/protocol/openid-connect/certs`)
and the password grant (`/protocol/openid-connect/token`, password ignored). Tokens are RS256 and carry
`sub` (stable for an email), `email`, `email_verified`, `name`, `aud`, `azp`, like Keycloak's.
It is never started when a real issuer is configured.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from pathlib import Path

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from happening_engine.config import OidcSettings

REALM_PATH = "/realms/happening"
TOKEN_TTL_SECONDS = 3600
_SUB_NAMESPACE = uuid.UUID("5f0c2d4e-7a1b-4c39-9d2e-6b8a1f3c0e11")


def load_or_create_key(path: str | None) -> rsa.RSAPrivateKey:
    """RS256 key from a PEM file (created there if missing), or a fresh one per start."""
    if path and Path(path).exists():
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if path:
        Path(path).write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return key


def _thumbprint(key: rsa.RSAPrivateKey) -> str:
    """The RFC 7638 JWK thumbprint of the public key, as Keycloak-style key ids are derived."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


class DevIssuer:
    """Signs tokens for `issuer`; `app()` serves them over HTTP."""

    def __init__(self, issuer: str, audience: str, key: rsa.RSAPrivateKey) -> None:
        self.issuer = issuer
        self.audience = audience
        self.key = key
        self.kid = _thumbprint(key)  # stable for a key, so tokens outlive a restart with a key file

    def jwks(self) -> dict[str, object]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return {"keys": [jwk]}

    def issue(self, email: str, name: str | None = None, client_id: str | None = None,
              ttl: int = TOKEN_TTL_SECONDS) -> str:
        now = int(time.time())
        email = email.strip().lower()
        claims = {
            "iss": self.issuer, "aud": self.audience, "azp": client_id or self.audience,
            "sub": str(uuid.uuid5(_SUB_NAMESPACE, email)), "email": email, "email_verified": True,
            "name": name or email.split("@")[0], "preferred_username": email,
            "iat": now, "nbf": now, "exp": now + ttl, "jti": uuid.uuid4().hex, "typ": "Bearer",
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def app(self) -> web.Application:
        app = web.Application()
        base = REALM_PATH + "/protocol/openid-connect"

        async def discovery(_: web.Request) -> web.Response:
            return web.json_response({
                "issuer": self.issuer,
                "jwks_uri": f"{self.issuer}/protocol/openid-connect/certs",
                "token_endpoint": f"{self.issuer}/protocol/openid-connect/token",
                "authorization_endpoint": f"{self.issuer}/protocol/openid-connect/auth",
                "grant_types_supported": ["password"],
                "id_token_signing_alg_values_supported": ["RS256"],
            })

        async def certs(_: web.Request) -> web.Response:
            return web.json_response(self.jwks())

        async def token(request: web.Request) -> web.Response:
            form = await request.post()
            if form.get("grant_type") != "password" or not form.get("username"):
                return web.json_response(
                    {"error": "invalid_request", "error_description": "grant_type=password and username required"},
                    status=400)
            access = self.issue(str(form["username"]), client_id=str(form.get("client_id") or ""))
            return web.json_response({"access_token": access, "token_type": "Bearer",
                                      "expires_in": TOKEN_TTL_SECONDS})

        app.router.add_get(REALM_PATH + "/.well-known/openid-configuration", discovery)
        app.router.add_get(base + "/certs", certs)
        app.router.add_post(base + "/token", token)
        return app


def from_settings(settings: OidcSettings) -> DevIssuer:
    return DevIssuer(settings.dev_issuer_url, settings.audience, load_or_create_key(settings.dev_key_file))
