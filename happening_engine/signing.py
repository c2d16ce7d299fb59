"""Engine commands signed with HMAC-SHA256 over the whole message, so an engine runs only what an API of
this deployment sent. Keys from `HAPPENING_ENGINE_COMMAND_KEYS`: the first signs, every one verifies
(rotation: add the new one first); a signature names its key by fingerprint, so verifying is one HMAC."""
from __future__ import annotations

import hashlib
import hmac

HEADER = "x-happening-signature"


def _fingerprint(secret: bytes) -> str:
    return hashlib.sha256(b"happening-command-key:" + secret).hexdigest()[:8]


class CommandKeys:
    """The deployment's command keys; empty when none are configured (commands then go unsigned)."""

    def __init__(self, secrets: list[bytes]) -> None:
        self._keys = {_fingerprint(s): s for s in secrets}
        self._signer = (_fingerprint(secrets[0]), secrets[0]) if secrets else None

    @classmethod
    def parse(cls, setting: str | None) -> CommandKeys:
        return cls([part.strip().encode() for part in (setting or "").split(",") if part.strip()])

    def __bool__(self) -> bool:
        return self._signer is not None

    def sign(self, body: bytes) -> str | None:
        """`<key fingerprint>:<hex HMAC>` of `body`, or None without keys."""
        if self._signer is None:
            return None
        kid, secret = self._signer
        return f"{kid}:{hmac.new(secret, body, hashlib.sha256).hexdigest()}"

    def verify(self, body: bytes, signature: object) -> bool:
        """True if `signature` is a valid signature of `body` by one of the keys."""
        if not isinstance(signature, str) or ":" not in signature:
            return False
        kid, _, digest = signature.partition(":")
        secret = self._keys.get(kid)
        return secret is not None and hmac.compare_digest(
            hmac.new(secret, body, hashlib.sha256).hexdigest(), digest)
