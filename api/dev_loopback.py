"""The dev issuer's one trust rule: a redirect URI or CORS origin is acceptable when its host is loopback
(127.0.0.1, localhost, [::1]) on any port: a real Keycloak client lists exact URIs (deploy/keycloak),
but on a developer's machine the web app's port varies (Next.js dev server, `happening serve`, Playwright)."""
from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _loopback(url: str) -> SplitResult | None:
    """`url` split, when it is an absolute http(s) URL on a loopback host without user info."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return None
    return parts if parts.hostname in LOOPBACK_HOSTS else None


def is_loopback_url(url: str) -> bool:
    """A redirect URI the dev issuer may send a browser to (no fragment, as OAuth requires)."""
    parts = _loopback(url)
    return parts is not None and not parts.fragment and "#" not in url


def is_loopback_origin(origin: str) -> bool:
    """A browser origin (`scheme://host[:port]`, nothing after it) allowed to call the issuer."""
    parts = _loopback(origin)
    return parts is not None and not parts.path and not parts.query and not parts.fragment \
        and "?" not in origin and "#" not in origin
