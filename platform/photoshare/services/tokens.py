"""Secrets in links (invitations, password resets, export downloads).

32 random bytes (256 bits) in base64url; only their SHA-256 is stored. A fast hash is
right for a random secret of this size: it cannot be guessed from its hash, and lookups
by hash (a unique index) mean no secret comparison in application code.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str | None) -> str:
    return hashlib.sha256((token or "").encode("utf-8")).hexdigest()


def looks_like_token(token: str | None) -> bool:
    # token_urlsafe(32) is 43 characters; anything else is refused before a lookup.
    return bool(token) and len(token) == 43 and all(c.isalnum() or c in "-_" for c in token)
