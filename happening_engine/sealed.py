"""Sealing a secret that must travel through PostgreSQL to the notification worker: an invite's
token, which the invitee's email carries as a link while the database keeps only its hash.

Fernet (AES-CBC with HMAC-SHA256, from `cryptography`) under keys from the environment
(`HAPPENING_NOTIFY_INVITE_KEYS`, comma-separated): the first key seals, every key opens, so a key
rotates by putting the new one first and dropping the old one once no pending notice needs it.
Any secret string is a key: it is stretched to Fernet's 32 bytes with SHA-256.
"""
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
