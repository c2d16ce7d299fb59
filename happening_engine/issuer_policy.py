"""When a process may fall back to the bundled dev token issuer, which hands a token to anyone: only for
`happening serve` on a loopback address, or when asked with `--dev-issuer`. Anything else without
`HAPPENING_OIDC_ISSUER` refuses to start, so the image's default command is safe unconfigured."""
from __future__ import annotations

import ipaddress

from .config import Settings

REFUSAL = (
    "happening {command}: no token issuer configured. Set HAPPENING_OIDC_ISSUER to your OpenID Connect "
    "issuer (e.g. https://id.example.com/realms/happening), or pass --dev-issuer to run the bundled "
    "development issuer, which signs a token for anyone (never in production). `happening serve` on "
    "127.0.0.1 starts it by itself."
)


class IssuerMissing(Exception):
    """Raised (and printed by the command line) when an API process has no issuer to trust."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start_dev_issuer(settings: Settings, command: str, dev_flag: bool) -> bool:
    """Whether `command` starts the dev issuer in-process; raises IssuerMissing if it has no issuer
    and may not fall back to the dev one."""
    if settings.oidc.issuer is not None:
        return False
    if dev_flag or (command == "serve" and is_loopback(settings.http.host)):
        return True
    raise IssuerMissing(REFUSAL.format(command=command))
