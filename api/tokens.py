"""Verifying bearer tokens against the issuer's JWKS, fetched with aiohttp (discovery, then `jwks_uri`)
so the event loop never blocks; keys cached by `kid`, an unknown `kid` refetching at most once per
`REFRESH_INTERVAL`, however many arrive."""
from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import aiohttp
import jwt
import structlog
from cachetools import TTLCache
from prometheus_client import Counter

from happening_engine.config import OidcSettings
from happening_engine.errors import Unauthorized

from .jws import decoder

log = structlog.get_logger(__name__)
VERIFIED_MAX = 100_000
VERIFIED_TTL = 60.0  # seconds
ALGORITHMS = ("RS256", "ES256")
REFRESH_INTERVAL = 3.0
# dashboards: how often the issuer's keys are fetched (an unknown kid, a rotation, or an outage)
JWKS_FETCHES = Counter("happening_jwks_fetches_total", "JWKS fetches from the token issuer", ["outcome"])
MAX_HEADER_CHARS = 2048  # a JOSE header is a few short members; anything longer is not ours
LEEWAY_SECONDS = 10
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=5)
DECODER = decoder()


class TokenVerifier:
    """Verifies JWTs with keys from the issuer's JWKS (cached; refreshed on an unknown kid)."""

    def __init__(self, settings: OidcSettings, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.session = session
        self._keys: dict[str, jwt.PyJWK] = {}
        self._jwks_uri: str | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many times the JWKS was fetched (tests check the throttle)
        # Clients reuse a token for many requests: its verified claims are remembered for a minute
        # (never past `exp`), which saves the RS256 check (about a fifth of a request's CPU).
        self._verified: TTLCache[str, dict[str, Any]] = TTLCache(maxsize=VERIFIED_MAX, ttl=VERIFIED_TTL)

    async def _get_json(self, url: str) -> dict[str, Any]:
        async with self.session.get(url, timeout=HTTP_TIMEOUT) as response:
            response.raise_for_status()
            data = await response.json(content_type=None)
        if not isinstance(data, dict):
            raise ValueError(f"{url} did not return a JSON object")
        return data

    async def _refresh(self) -> None:
        if self._jwks_uri is None:
            discovery = await self._get_json(f"{self.settings.fetch_base}/.well-known/openid-configuration")
            self._jwks_uri = str(discovery["jwks_uri"])
            if self.settings.internal_url:  # the issuer names itself by its public URL
                self._jwks_uri = self._jwks_uri.replace(self.settings.effective_issuer.rstrip("/"),
                                                        self.settings.fetch_base, 1)
        jwks = await self._get_json(self._jwks_uri)
        self.fetches += 1
        JWKS_FETCHES.labels("ok").inc()
        found: dict[str, jwt.PyJWK] = {}
        for data in jwks.get("keys", []):
            if not isinstance(data, dict) or data.get("use", "sig") != "sig":
                continue  # encryption keys (Keycloak publishes one) are not for us: skipped quietly
            try:
                key = jwt.PyJWK.from_dict(data)
            except jwt.PyJWTError as exc:
                log.warning("jwk_skipped", kid=data.get("kid"), error=str(exc))
                continue
            if key.algorithm_name in ALGORITHMS and key.public_key_use in (None, "sig"):
                found[key.key_id or ""] = key
        self._keys = found
        log.info("jwks_fetched", kids=sorted(found))

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        """The cached key for `kid`, refetching the JWKS when it is unknown: a fetch started after this
        request arrived answers it, else it waits for the next one the throttle allows. So junk kids cost
        one fetch per interval, and a new kid right after a rotation is accepted, not refused."""
        if kid in self._keys:
            return self._keys[kid]
        arrived = time.monotonic()
        async with self._lock:
            if kid in self._keys or self._fetched_at >= arrived:
                return self._keys.get(kid)
            await asyncio.sleep(self._fetched_at + REFRESH_INTERVAL - time.monotonic())
            self._fetched_at = time.monotonic()
            try:
                await self._refresh()
            except (TimeoutError, aiohttp.ClientError, ValueError, KeyError) as exc:
                JWKS_FETCHES.labels("failed").inc()
                log.warning("jwks_fetch_failed", error=f"{type(exc).__name__}: {exc}")
                return None
            return self._keys.get(kid)

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or `Unauthorized` for anything not exactly right."""
        claims = self._verified.get(token)
        if claims is not None and claims["exp"] > time.time():
            return claims
        claims = await self._verify(token)
        self._verified[token] = claims
        return claims

    async def _verify(self, token: str) -> dict[str, Any]:
        header = _header(token)
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthorized("token algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthorized("token has no key id")
        key = await self.key_for(kid)
        if key is None:
            raise Unauthorized("unknown signing key")
        if key.algorithm_name != alg:
            raise Unauthorized("token algorithm does not match its key")
        try:
            claims = DECODER.decode(
                token, key.key, algorithms=[alg], issuer=self.settings.effective_issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "sub"], "verify_aud": False},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        audience = self.settings.audience
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if audience not in auds and claims.get("azp") != audience:
            raise Unauthorized("token not issued for this audience")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Unauthorized("token has no subject")
        if not _is_access_token(header, claims):
            raise Unauthorized("not an access token")
        return claims


def _is_access_token(header: dict[str, Any], claims: dict[str, Any]) -> bool:
    """RFC 9068's `typ: at+jwt` header, or Keycloak's `typ: Bearer` claim; an ID token (Keycloak's
    `typ: ID`, audience the client) or a refresh token must not pass as an access token."""
    typ = header.get("typ")
    if isinstance(typ, str) and typ.lower() in ("at+jwt", "application/at+jwt"):
        return True
    return claims.get("typ") == "Bearer"


def _header(token: str) -> dict[str, Any]:
    """The token's header, to pick the key. Read here rather than by `jwt.get_unverified_header`, which
    checks the whole token's encoding in Python, as `jwt.decode` then does again; nothing in the header
    is trusted before `jwt.decode` verifies it."""
    segment = token.split(".", 1)[0]
    if len(segment) > MAX_HEADER_CHARS:
        raise Unauthorized("malformed token")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: JSON nested too deep
        raise Unauthorized("malformed token") from exc
    if not isinstance(header, dict):
        raise Unauthorized("malformed token")
    return header
