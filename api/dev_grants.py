"""The dev issuer's token endpoint (password, authorization_code with PKCE, refresh_token grants)
and its userinfo endpoint, answering like Keycloak: JSON bodies, OAuth error codes with status 400
(RFC 6749 section 5.2), 401 with `WWW-Authenticate` for a bad bearer token (RFC 6750).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import TYPE_CHECKING, TypeAlias

import jwt
from aiohttp import web
from multidict import MultiDictProxy

if TYPE_CHECKING:
    from .dev_issuer import DevIssuer

Form: TypeAlias = MultiDictProxy[str | bytes | bytearray | web.FileField]  # what request.post() gives
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 section 4.1
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of a code verifier."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _field(form: Form, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status, headers=_NO_STORE)


class Grants:
    """`POST /token` and `GET|POST /userinfo` of one dev issuer."""

    def __init__(self, issuer: DevIssuer) -> None:
        self.issuer = issuer

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant_type = _field(form, "grant_type")
        if grant_type == "password":
            return self._password(form)
        if grant_type == "authorization_code":
            return self._code(form)
        if grant_type == "refresh_token":
            return self._refresh(form)
        return _error("unsupported_grant_type",
                      "grant_type must be authorization_code, refresh_token or password")

    def _password(self, form: Form) -> web.Response:
        """For scripts, load tests and API tests: any username signs in, the password is ignored."""
        username = _field(form, "username")
        if not username:
            return _error("invalid_request", "grant_type=password and username required")
        access = self.issuer.issue(username, client_id=_field(form, "client_id"))
        return web.json_response({"access_token": access, "token_type": "Bearer", "expires_in": self.issuer.ttl})

    def _code(self, form: Form) -> web.Response:
        code, client_id = _field(form, "code"), _field(form, "client_id")
        if not code or not client_id:
            return _error("invalid_request", "code and client_id are required")
        grant = self.issuer.store.take_code(code)  # gone from here on, whatever happens below
        if grant is None:
            return _error("invalid_grant", "Code not valid: unknown, expired or already used")
        if not hmac.compare_digest(client_id, grant.client_id):
            return _error("invalid_grant", "Code was issued to another client")
        if _field(form, "redirect_uri") != grant.redirect_uri:
            return _error("invalid_grant", "Incorrect redirect_uri: not the one of the authorization request")
        verifier = _field(form, "code_verifier")
        if not _VERIFIER.fullmatch(verifier):
            return _error("invalid_grant", "PKCE verification failed: code_verifier missing or malformed")
        if not hmac.compare_digest(s256(verifier), grant.code_challenge):
            return _error("invalid_grant", "PKCE verification failed: code_verifier does not match code_challenge")
        session = self.issuer.store.session(grant.session_id)
        if session is None:
            return _error("invalid_grant", "Session not active")
        return web.json_response(self.issuer.tokens(session, client_id, grant.nonce, grant.scope), headers=_NO_STORE)

    def _refresh(self, form: Form) -> web.Response:
        token, client_id = _field(form, "refresh_token"), _field(form, "client_id")
        if not token or not client_id:
            return _error("invalid_request", "refresh_token and client_id are required")
        grant = self.issuer.store.take_refresh_token(token)  # rotation: a new one is issued below
        if grant is None:
            return _error("invalid_grant", "Invalid refresh token: unknown, expired or already used")
        if not hmac.compare_digest(client_id, grant.client_id):
            return _error("invalid_grant", "Refresh token was issued to another client")
        if not set(_field(form, "scope").split()) <= set(grant.scope.split()):
            return _error("invalid_scope", "A refresh cannot widen the scope of the sign-in")
        session = self.issuer.store.session(grant.session_id)
        if session is None:
            return _error("invalid_grant", "Session not active")
        return web.json_response(self.issuer.tokens(session, client_id, grant.nonce, grant.scope), headers=_NO_STORE)

    async def userinfo(self, request: web.Request) -> web.Response:
        """The signed-in user's claims, for a live access token of this issuer."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise jwt.InvalidTokenError("missing bearer token")
            claims = self.issuer.verify(token.strip())
            if claims.get("typ") != "Bearer":
                raise jwt.InvalidTokenError("not an access token")
            sid = claims.get("sid")
            if isinstance(sid, str) and self.issuer.store.session(sid) is None:
                raise jwt.InvalidTokenError("session not active")
        except jwt.PyJWTError as exc:
            reason = " ".join(str(exc).replace('"', "'").split())
            challenge = f'Bearer realm="happening", error="invalid_token", error_description="{reason}"'
            return web.json_response({"error": "invalid_token", "error_description": reason}, status=401,
                                     headers={"WWW-Authenticate": challenge})
        return web.json_response({key: claims[key] for key in
                                  ("sub", "email", "email_verified", "name", "preferred_username") if key in claims})
