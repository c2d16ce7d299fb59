"""Sealing an invite's token for its trip through PostgreSQL to the worker (the database keeps only its hash):
Fernet under `HAPPENING_NOTIFY_INVITE_KEYS`, the first key seals and every key opens, so keys rotate by
putting the new one first; any secret string is a key (stretched with SHA-256)."""
from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


class Sealer:
    """Seals and opens short secrets; without keys it seals nothing (the notice then has no link)."""

    def __init__(self, keys: str | None) -> None:
        secrets = [k.strip() for k in (keys or "").split(",") if k.strip()]
        self._fernet = MultiFernet([_fernet(s) for s in secrets]) if secrets else None

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def seal(self, secret: str) -> str | None:
        return self._fernet.encrypt(secret.encode()).decode() if self._fernet else None

    def open(self, sealed: object) -> str | None:
        """The secret, or None when it cannot be opened (no key, a retired key, tampered)."""
        if self._fernet is None or not isinstance(sealed, str):
            return None
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError):
            return None
