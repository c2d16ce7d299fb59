"""The claims of a valid access token for the API, changed as a test needs (None drops a claim)."""
from __future__ import annotations

import time
import uuid


def token_claims(issuer: str, **changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"iss": issuer, "aud": "happening-api", "azp": "happening-api",
                                 "sub": str(uuid.uuid4()), "email": f"a{uuid.uuid4().hex[:8]}@example.test",
                                 "email_verified": True, "name": "Attacker", "iat": now, "nbf": now,
                                 "exp": now + 600, "typ": "Bearer"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}
