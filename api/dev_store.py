"""The dev issuer's in-memory state (SSO sessions, codes, refresh tokens), lost on restart as a dev issuer
may be. Secrets are kept under their SHA-256 so memory holds none usable; a code works once and a
refresh token is replaced at each use."""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field

CODE_TTL_SECONDS = 60
REFRESH_TTL_SECONDS = 30 * 60
SESSION_TTL_SECONDS = 10 * 60 * 60  # Keycloak's default SSO session max lifespan


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """A browser's dev SSO session: `id` is its public `sid`, `cookie` the secret the browser holds."""

    id: str
    cookie: str
    email: str
    name: str
    auth_time: int
    expires_at: float


@dataclass(frozen=True)
class CodeGrant:
    """What an authorization code was issued for; the token request must match it."""

    session_id: str
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    scope: str
    expires_at: float


@dataclass(frozen=True)
class RefreshGrant:
    """What a refresh token may renew: one client's tokens within one session."""

    session_id: str
    client_id: str
    nonce: str | None
    scope: str
    expires_at: float


@dataclass
class DevStore:
    """Sessions, codes and refresh tokens, each with an expiry; expired entries are swept on insert."""

    refresh_ttl: int = REFRESH_TTL_SECONDS
    sessions: dict[str, Session] = field(default_factory=dict)  # by public id
    cookies: dict[str, str] = field(default_factory=dict)  # digest of a cookie -> session id
    codes: dict[str, CodeGrant] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshGrant] = field(default_factory=dict)

    def new_session(self, email: str, name: str) -> Session:
        self._sweep()
        now = time.time()
        session = Session(secrets.token_urlsafe(16), secrets.token_urlsafe(32), email, name, int(now),
                          now + SESSION_TTL_SECONDS)
        self.sessions[session.id] = session
        self.cookies[_digest(session.cookie)] = session.id
        return session

    def by_cookie(self, cookie: str | None) -> Session | None:
        """The live session whose cookie this is, if any."""
        return self.session(self.cookies.get(_digest(cookie), "")) if cookie else None

    def session(self, session_id: str) -> Session | None:
        """The live session with this public id (`sid`), if any."""
        session = self.sessions.get(session_id)
        return session if session is not None and session.expires_at > time.time() else None

    def end_session(self, session_id: str) -> None:
        """Forget the session and every code and refresh token issued within it."""
        session = self.sessions.pop(session_id, None)
        if session is not None:
            self.cookies.pop(_digest(session.cookie), None)
        for grants in (self.codes, self.refresh_tokens):
            for key in [k for k, grant in grants.items() if grant.session_id == session_id]:
                del grants[key]

    def new_code(self, session: Session, client_id: str, redirect_uri: str, code_challenge: str,
                 nonce: str | None, scope: str) -> str:
        self._sweep()
        code = secrets.token_urlsafe(32)
        self.codes[_digest(code)] = CodeGrant(session.id, client_id, redirect_uri, code_challenge, nonce, scope,
                                              time.time() + CODE_TTL_SECONDS)
        return code

    def take_code(self, code: str) -> CodeGrant | None:
        """The code's grant, once: the code is gone after this call whatever the caller decides."""
        grant = self.codes.pop(_digest(code), None)
        return grant if grant is not None and grant.expires_at > time.time() else None

    def new_refresh_token(self, session: Session, client_id: str, nonce: str | None, scope: str) -> str:
        """A refresh token living `refresh_ttl` seconds, never past its session."""
        self._sweep()
        token = secrets.token_urlsafe(32)
        expires_at = min(time.time() + self.refresh_ttl, session.expires_at)
        self.refresh_tokens[_digest(token)] = RefreshGrant(session.id, client_id, nonce, scope, expires_at)
        return token

    def take_refresh_token(self, token: str) -> RefreshGrant | None:
        """The token's grant, once (rotation: the caller issues a new refresh token)."""
        grant = self.refresh_tokens.pop(_digest(token), None)
        return grant if grant is not None and grant.expires_at > time.time() else None

    def _sweep(self) -> None:
        now = time.time()
        for session_id in [k for k, session in self.sessions.items() if session.expires_at <= now]:
            self.end_session(session_id)
        for grants in (self.codes, self.refresh_tokens):
            for key in [k for k, grant in grants.items() if grant.expires_at <= now]:
                del grants[key]
