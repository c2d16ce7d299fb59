"""Authentication: the bearer token verified (`tokens.py`: the issuer's JWKS), then the caller's user
row, signing them up on their first request.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import aiohttp
import structlog
from aiohttp import web
from cachetools import TTLCache

from happening_engine.errors import Unauthorized
from happening_engine.store import users

from . import keys
from .tokens import TokenVerifier

log = structlog.get_logger(__name__)
KNOWN_USERS_MAX = 100_000
KNOWN_USERS_TTL = 300.0  # seconds
MAX_NAME = 200
# The issuer vouched for the address: refused only if it cannot be one mailbox (control characters,
# lone surrogates, spaces, list separators, brackets); invites, which we take as input, are stricter.
TOKEN_EMAIL = re.compile('[^@\\s,;<>"\x00-\x1f\x7f-\x9f\ud800-\udfff]+@[^@\\s,;<>"\x00-\x1f\x7f-\x9f\ud800-\udfff]+')
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")  # dropped from a token's name


@dataclass(frozen=True)
class CurrentUser:
    """The authenticated caller: our user row plus the token's verified claims."""

    id: UUID
    email: str
    full_name: str
    claims: dict[str, Any]

    @property
    def token_email(self) -> str:
        """The email the issuer vouches for in this token (may differ from the stored one)."""
        return str(self.claims.get("email", "")).strip().lower()

    @property
    def email_verified(self) -> bool:
        return self.claims.get("email_verified") is True


def identity(claims: dict[str, Any]) -> tuple[str, str]:
    """The (email, name) a verified token vouches for, as we store them: an email that is not one
    address is refused (401); a name loses control characters and is cut to 200 characters."""
    email = claims.get("email")
    email = email.strip().lower() if isinstance(email, str) else ""
    if not TOKEN_EMAIL.fullmatch(email) or len(email) > 254:
        raise Unauthorized("token has no valid email")
    name = claims.get("name")
    full_name = _clean_name(name) if isinstance(name, str) else ""
    return email, full_name


def _clean_name(name: str) -> str:
    return " ".join(CONTROL.sub(" ", name).split())[:MAX_NAME]


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    return token.strip()


async def authenticate(request: web.Request) -> CurrentUser:
    """Verify the bearer token, then find the user (signing them up on their first request)."""
    claims = await request.app[keys.AUTH].verify(_bearer(request))
    email, full_name = identity(claims)
    known = request.app[keys.KNOWN_USERS]
    row = known.get(claims["sub"])
    if row is None:
        row = await users.get_or_sign_up(request.app[keys.POOL], claims["sub"], email, full_name)
        known[claims["sub"]] = row
    if row["email"] != email or (full_name and row["full_name"] != full_name):
        # the issuer vouches for a new address or name: mail goes to where the user is now
        row = await users.refresh(request.app[keys.POOL], row["id"], email, full_name or row["full_name"])
        known[claims["sub"]] = row
    return CurrentUser(id=row["id"], email=row["email"], full_name=row["full_name"], claims=claims)


def current_user(request: web.Request) -> CurrentUser:
    return request[keys.USER]


async def auth_ctx(app: web.Application) -> AsyncIterator[None]:
    """The JWKS client and its HTTP session."""
    session = aiohttp.ClientSession()
    app[keys.AUTH] = TokenVerifier(app[keys.SETTINGS].oidc, session)
    # A user's row never changes id for a `sub`: remembering it saves a query per request. Roles are
    # not cached; they are read on every request that needs one.
    app[keys.KNOWN_USERS] = TTLCache(maxsize=KNOWN_USERS_MAX, ttl=KNOWN_USERS_TTL)
    yield
    await session.close()
