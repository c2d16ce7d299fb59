"""pyjwt's decoder with its base64url segment check (GHSA-hxm8-2xgr-2p9m) done in C by `bytes.translate`
rather than by pyjwt's Python loop over every character: the same rules, a cheaper fresh token (README,
Performance). Everything else (signature, claims, leeway, required claims) is pyjwt's own."""
from __future__ import annotations

import binascii

import jwt
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The hook this replaces; a pyjwt without it (older, or renamed) simply keeps its own check.
HOOK = "_decode_base64url_segment"


class FastSegmentJWS(jwt.PyJWS):
    @staticmethod
    def _decode_base64url_segment(segment: bytes, name: str) -> bytes:
        stripped = segment.rstrip(b"=")
        padding = len(segment) - len(stripped)
        if (padding > 2 or (padding and len(segment) % 4) or len(stripped) % 4 == 1
                or stripped.translate(None, ALPHABET)):  # outside the alphabet (cheap early exit)
            raise DecodeError(f"Invalid {name} padding")
        try:
            decoded = base64url_decode(stripped)
        except (TypeError, binascii.Error) as err:
            raise DecodeError(f"Invalid {name} padding") from err
        if base64url_encode(decoded) != stripped:  # only the canonical encoding is accepted
            raise DecodeError(f"Invalid {name} padding")
        return decoded


def decoder() -> jwt.PyJWT:
    """A PyJWT whose `decode` uses the fast segment check where this pyjwt has that hook."""
    pyjwt = jwt.PyJWT()
    if hasattr(jwt.PyJWS, HOOK) and isinstance(getattr(pyjwt, "_jws", None), jwt.PyJWS):
        pyjwt._jws = FastSegmentJWS(options=pyjwt._jws.options)
    return pyjwt
