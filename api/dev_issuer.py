"""A small Keycloak-compatible OIDC issuer for local runs and tests (Keycloak cannot run here): Keycloak's
paths under `/realms/happening` (discovery, JWKS, code + PKCE sign-in in `dev_signin`, the password grant
for scripts), RS256 tokens with its claims. Never started when a real issuer is configured."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from happening_engine.config import OidcSettings

from .dev_grants import Grants
from .dev_loopback import is_loopback_origin
from .dev_signin import SignIn
from .dev_store import REFRESH_TTL_SECONDS, DevStore, Session

REALM_PATH = "/realms/happening"
OIDC_PATH = REALM_PATH + "/protocol/openid-connect"
TOKEN_TTL_SECONDS = 3600
WEB_CLIENT_ID = "happening-web"
SCRIPT_CLIENT_ID = "happening-api"
_SUB_NAMESPACE = uuid.UUID("5f0c2d4e-7a1b-4c39-9d2e-6b8a1f3c0e11")
_CORS_PATHS = frozenset({REALM_PATH + "/.well-known/openid-configuration", OIDC_PATH + "/certs",
                         OIDC_PATH + "/token", OIDC_PATH + "/userinfo"})


def load_or_create_key(path: str | None) -> rsa.RSAPrivateKey:
    """RS256 key from a PEM file (created there, readable by its owner only, if missing), or a fresh
    one per start."""
    if path and Path(path).exists():
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if path:
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never world-readable, not even briefly
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
    return key


def _thumbprint(key: rsa.RSAPrivateKey) -> str:
    """The RFC 7638 JWK thumbprint of the public key, as Keycloak-style key ids are derived."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _half_hash(token: str) -> str:
    """OIDC `at_hash`: the left half of the token's SHA-256, base64url."""
    digest = hashlib.sha256(token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


class DevIssuer:
    """Signs tokens for `issuer`; `app()` serves them over HTTP. `ttl` is the access (and ID) token
    lifetime and `refresh_ttl` the refresh tokens'; tests lower them to watch tokens expire."""

    def __init__(self, issuer: str, audience: str, key: rsa.RSAPrivateKey, ttl: int = TOKEN_TTL_SECONDS,
                 refresh_ttl: int = REFRESH_TTL_SECONDS) -> None:
        self.issuer = issuer
        self.audience = audience
        self.key = key
        self.kid = _thumbprint(key)  # stable for a key, so tokens outlive a restart with a key file
        self.ttl = ttl
        self.clients = frozenset({WEB_CLIENT_ID, SCRIPT_CLIENT_ID, audience})
        self.store = DevStore(refresh_ttl=refresh_ttl)

    def endpoint(self, name: str) -> str:
        return f"{self.issuer}/protocol/openid-connect/{name}"

    def jwks(self) -> dict[str, object]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return {"keys": [jwk]}

    def _sign(self, claims: Mapping[str, object]) -> str:
        return jwt.encode(dict(claims), self.key, algorithm="RS256", headers={"kid": self.kid})

    def issue(self, email: str, name: str | None = None, client_id: str | None = None,
              ttl: int | None = None, *, extra: Mapping[str, object] | None = None) -> str:
        """An access token for the API audience, as Keycloak's audience mapper makes them."""
        now = int(time.time())
        email = email.strip().lower()
        claims = {
            "iss": self.issuer, "aud": self.audience, "azp": client_id or self.audience,
            "sub": str(uuid.uuid5(_SUB_NAMESPACE, email)), "email": email, "email_verified": True,
            "name": name or email.split("@")[0], "preferred_username": email,
            "iat": now, "nbf": now, "exp": now + (self.ttl if ttl is None else ttl), "jti": uuid.uuid4().hex,
            "typ": "Bearer", **(extra or {}),
        }
        return self._sign(claims)

    def tokens(self, session: Session, client_id: str, nonce: str | None, scope: str) -> dict[str, object]:
        """The token response of the code and refresh grants: access, ID (for `openid`) and a new
        refresh token. The ID token keeps the session's `auth_time`, `sub` and `azp`, which
        oidc-client-ts compares after a refresh."""
        session_claims = {"sid": session.id, "session_state": session.id, "auth_time": session.auth_time,
                          "scope": scope}
        access = self.issue(session.email, session.name, client_id, extra=session_claims)
        refresh = self.store.new_refresh_token(session, client_id, nonce, scope)
        refresh_grant_ttl = max(0, int(min(self.store.refresh_ttl, session.expires_at - time.time())))
        response: dict[str, object] = {
            "access_token": access, "expires_in": self.ttl, "refresh_token": refresh,
            "refresh_expires_in": refresh_grant_ttl, "token_type": "Bearer", "not-before-policy": 0,
            "session_state": session.id, "scope": scope,
        }
        if "openid" in scope.split():
            now = int(time.time())
            response["id_token"] = self._sign({
                "iss": self.issuer, "aud": client_id, "azp": client_id, "typ": "ID",
                "sub": str(uuid.uuid5(_SUB_NAMESPACE, session.email)), "email": session.email,
                "email_verified": True, "name": session.name, "preferred_username": session.email,
                "auth_time": session.auth_time, "iat": now, "exp": now + self.ttl, "jti": uuid.uuid4().hex,
                "sid": session.id, "session_state": session.id, "at_hash": _half_hash(access),
                **({"nonce": nonce} if nonce else {}),
            })
        return response

    def verify(self, token: str, *, expired_ok: bool = False) -> dict[str, Any]:
        """Claims of a token this issuer signed (userinfo's bearer token, logout's id_token_hint)."""
        return jwt.decode(token, self.key.public_key(), algorithms=["RS256"], issuer=self.issuer,
                          options={"verify_aud": False, "verify_exp": not expired_ok, "require": ["sub"]})

    def discovery(self) -> dict[str, object]:
        """What Keycloak's discovery says, limited to what this issuer really does."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.endpoint("auth"),
            "token_endpoint": self.endpoint("token"),
            "userinfo_endpoint": self.endpoint("userinfo"),
            "end_session_endpoint": self.endpoint("logout"),
            "jwks_uri": self.endpoint("certs"),
            "grant_types_supported": ["authorization_code", "refresh_token", "password"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "sid",
                                 "email", "email_verified", "name", "preferred_username"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "userinfo_signing_alg_values_supported": ["none"],
            "token_endpoint_auth_methods_supported": ["none"],
            "prompt_values_supported": ["none", "login"],
            "authorization_response_iss_parameter_supported": True,
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
        }

    def app(self) -> web.Application:
        app = web.Application(middlewares=[_cors])
        grants, signin = Grants(self), SignIn(self, cookie_path=REALM_PATH)

        async def discovery(_: web.Request) -> web.Response:
            return web.json_response(self.discovery())

        async def certs(_: web.Request) -> web.Response:
            return web.json_response(self.jwks())

        async def preflight(_: web.Request) -> web.Response:
            return web.Response(status=204)  # `_cors` adds the headers for an allowed origin

        for path in _CORS_PATHS:
            app.router.add_route("OPTIONS", path, preflight)
        app.router.add_get(REALM_PATH + "/.well-known/openid-configuration", discovery)
        app.router.add_get(OIDC_PATH + "/certs", certs)
        app.router.add_post(OIDC_PATH + "/token", grants.token)
        app.router.add_get(OIDC_PATH + "/userinfo", grants.userinfo)
        app.router.add_post(OIDC_PATH + "/userinfo", grants.userinfo)
        app.router.add_get(OIDC_PATH + "/auth", signin.authorize)
        app.router.add_post(OIDC_PATH + "/auth", signin.sign_in)
        app.router.add_get(OIDC_PATH + "/logout", signin.logout)
        app.router.add_post(OIDC_PATH + "/logout", signin.logout)
        return app


@web.middleware
async def _cors(request: web.Request,
                handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """CORS for the web app's origin on the endpoints a browser script calls (no credentials:
    oidc-client-ts fetches with `same-origin` credentials, so cookies never cross)."""
    if request.path not in _CORS_PATHS:
        return await handler(request)
    response = await handler(request)
    response.headers["Vary"] = "Origin"
    origin = request.headers.get("Origin", "")
    if is_loopback_origin(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, Authorization"
            response.headers["Access-Control-Max-Age"] = "600"
    return response


def from_settings(settings: OidcSettings) -> DevIssuer:
    return DevIssuer(settings.dev_issuer_url, settings.audience, load_or_create_key(settings.dev_key_file))
