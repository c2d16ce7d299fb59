"""The dev issuer's browser endpoints, `/auth` (code + PKCE S256) and `/logout`. An unknown client or a
non-loopback redirect gets an HTML error page, never a redirect; each sign-in starts a new dev SSO
session, and `prompt=none` answers at once (a code with a session, else `login_required`)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import jwt
from aiohttp import web

from . import dev_pages
from .dev_loopback import is_loopback_url
from .dev_store import SESSION_TTL_SECONDS, Session

if TYPE_CHECKING:
    from .dev_issuer import DevIssuer

COOKIE = "HAPPENING_DEV_SSO"
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a SHA-256 digest
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class AuthRequest:
    """The parameters of an authorization request (from the query, or the form's hidden fields)."""

    client_id: str
    redirect_uri: str
    response_type: str
    response_mode: str
    scope: str
    state: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    prompt: str
    login_hint: str

    @classmethod
    def parse(cls, params: Mapping[str, object]) -> AuthRequest:
        def get(name: str) -> str:
            value = params.get(name)
            return value if isinstance(value, str) else ""
        return cls(**{name: get(name) for name in cls.__dataclass_fields__})

    def refusal(self) -> tuple[str, str] | None:
        """(OAuth error, description) to redirect back with, or None when the request is acceptable."""
        if self.response_type != "code":
            return "unsupported_response_type", "Only response_type=code is supported"
        if self.response_mode not in ("", "query", "fragment"):
            return "invalid_request", "response_mode must be query or fragment"
        if self.code_challenge_method != "S256" or not _CHALLENGE.fullmatch(self.code_challenge):
            return "invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256"
        return None


class SignIn:
    """`GET /auth` (the form, or an immediate redirect), `POST /auth` (sign in) and `/logout`."""

    def __init__(self, issuer: DevIssuer, cookie_path: str) -> None:
        self.issuer = issuer
        self.cookie_path = cookie_path

    def _untrusted(self, client_id: str, redirect_uri: str) -> web.Response | None:
        if client_id not in self.issuer.clients:
            return dev_pages.error_page(f"Unknown client_id {client_id!r}.")
        if not is_loopback_url(redirect_uri):
            return dev_pages.error_page("Invalid redirect_uri: the dev issuer redirects only to http(s) URLs on "
                                        "127.0.0.1, localhost or [::1].")
        return None

    def _redirect(self, auth: AuthRequest, params: dict[str, str]) -> web.Response:
        params = {**params, **({"state": auth.state} if auth.state else {}), "iss": self.issuer.issuer}
        separator = "#" if auth.response_mode == "fragment" else "&" if "?" in auth.redirect_uri else "?"
        return web.Response(status=302, headers={"Location": auth.redirect_uri + separator + urlencode(params),
                                                 "Cache-Control": "no-store"})

    def _code_redirect(self, auth: AuthRequest, session: Session) -> web.Response:
        code = self.issuer.store.new_code(session, auth.client_id, auth.redirect_uri, auth.code_challenge,
                                          auth.nonce or None, auth.scope or "openid")
        return self._redirect(auth, {"code": code, "session_state": session.id})

    def _checked(self, params: Mapping[str, object]) -> tuple[AuthRequest, web.Response | None]:
        """The request, and the answer that ends it here if it is not acceptable: an error page for an
        unknown client or redirect URI (never redirected to), else an error sent back to the client."""
        auth = AuthRequest.parse(params)
        untrusted = self._untrusted(auth.client_id, auth.redirect_uri)
        if untrusted is not None:
            return auth, untrusted
        refusal = auth.refusal()
        if refusal is not None:
            return auth, self._redirect(auth, {"error": refusal[0], "error_description": refusal[1]})
        return auth, None

    async def authorize(self, request: web.Request) -> web.Response:
        auth, refused = self._checked(request.query)
        if refused is not None:
            return refused
        session = self.issuer.store.by_cookie(request.cookies.get(COOKIE))
        if auth.prompt == "none":
            if session is None:
                return self._redirect(auth, {"error": "login_required", "error_description": "Not signed in"})
            return self._code_redirect(auth, session)
        return dev_pages.sign_in_page(request.path, self._hidden(auth), session.email if session else auth.login_hint,
                                      session.name if session else "")

    async def sign_in(self, request: web.Request) -> web.Response:
        form = await request.post()
        auth, refused = self._checked(form)
        if refused is not None:
            return refused
        email = str(form.get("email") or "").strip().lower()
        name = " ".join(str(form.get("name") or "").split())[:200]
        if len(email) > 254 or not _EMAIL.fullmatch(email):
            return dev_pages.sign_in_page(request.path, self._hidden(auth), email, name,
                                          error="Enter an email address like name@example.com.")
        earlier = self.issuer.store.by_cookie(request.cookies.get(COOKIE))
        if earlier is not None:
            self.issuer.store.end_session(earlier.id)
        session = self.issuer.store.new_session(email, name or email.split("@")[0])
        response = self._code_redirect(auth, session)
        response.set_cookie(COOKIE, session.cookie, path=self.cookie_path, max_age=SESSION_TTL_SECONDS, httponly=True,
                            samesite="Lax", secure=request.secure)
        return response

    @staticmethod
    def _hidden(auth: AuthRequest) -> dict[str, str]:
        return {k: v for k, v in asdict(auth).items() if k not in ("prompt", "login_hint")}

    async def logout(self, request: web.Request) -> web.Response:
        """End the browser's session (and the one `id_token_hint` names): its refresh tokens stop working."""
        params = request.query if request.method == "GET" else await request.post()
        get = {k: v for k, v in params.items() if isinstance(v, str)}.get
        target, hint, client_id, state = (get(k, "") for k in
                                          ("post_logout_redirect_uri", "id_token_hint", "client_id", "state"))
        if client_id and client_id not in self.issuer.clients:
            return dev_pages.error_page(f"Unknown client_id {client_id!r}.")
        if target and not is_loopback_url(target):
            return dev_pages.error_page("Invalid post_logout_redirect_uri: the dev issuer redirects only to "
                                        "http(s) URLs on 127.0.0.1, localhost or [::1].")
        if target and not (hint or client_id):
            return dev_pages.error_page("post_logout_redirect_uri needs id_token_hint or client_id.")
        browser_session = self.issuer.store.by_cookie(request.cookies.get(COOKIE))
        sessions = {browser_session.id if browser_session else ""}
        if hint:
            try:
                claims = self.issuer.verify(hint, expired_ok=True)
            except jwt.PyJWTError:
                return dev_pages.error_page("id_token_hint is not a token of this issuer.")
            if client_id and claims.get("aud") != client_id:
                return dev_pages.error_page("id_token_hint was issued to another client.")
            sessions.add(str(claims.get("sid") or ""))
        for session_id in sessions - {""}:
            self.issuer.store.end_session(session_id)
        if target:
            query = urlencode({"state": state}) if state else ""
            separator = "&" if "?" in target else "?"
            response = web.Response(status=302, headers={"Location": target + (separator + query if query else ""),
                                                         "Cache-Control": "no-store"})
        else:
            response = dev_pages.signed_out_page()
        response.del_cookie(COOKIE, path=self.cookie_path)
        return response
