"""Meta signs every delivery: X-Hub-Signature-256 = 'sha256=' + HMAC-SHA256(raw body, app secret)."""
from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(body: bytes, secret: str) -> str:
    """The header value Meta would send for this body (used by replay and tests)."""
    return PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_valid(body: bytes, header: str | None, secret: str) -> bool:
    """Check the signature over the raw bytes, in constant time.

    The raw bytes matter: Meta escapes non-ASCII (\\u0441...), so hashing
    re-serialised JSON would pass ASCII tests and fail on 'стоп'.
    """
    if not header or not secret:
        return False
    header = header.strip()
    if not header.lower().startswith(PREFIX):
        return False
    provided = header[len(PREFIX):].strip().lower()
    expected = sign(body, secret)[len(PREFIX):]
    return hmac.compare_digest(expected.encode(), provided.encode("ascii", "replace"))


def tokens_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison for the verify token and the admin bearer token."""
    if given is None or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())
