"""API keys: creation (shown once), listing, revocation, authentication of a request.

A key is `psk_` followed by 32 random bytes in base64url (43 characters). Only its
SHA-256 is stored, with a short display prefix (`psk_` + 8 characters) so people can
tell their keys apart. A fast hash is right here: the secret is 256 bits of
randomness, so it cannot be guessed or brute-forced from its hash, unlike a password
(which is why passwords use bcrypt). Keys are looked up by that hash (unique index),
so no secret comparison happens in application code.

Stored through repositories.api_keys.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.database import Database

from ..clock import utcnow
from ..repositories import api_keys as key_repo
from ..repositories import users as user_repo
from .errors import AuthenticationFailed, NotFound, ValidationError, as_object_id

KEY_PREFIX = "psk_"
KEY_RANDOM_BYTES = 32
_ENCODED_LENGTH = 43  # base64url of 32 bytes, without padding
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 8

READ, WRITE = "read", "write"
# `admin` (the /api/v1/admin endpoints) only for administrators: granted at creation only
# to an administrator, and honoured only while the key's owner still is one.
ADMIN = "admin"
SCOPES = (READ, WRITE, ADMIN)
MAX_KEY_NAME_LENGTH = 100
MAX_EXPIRY_DAYS = 3650
MAX_ACTIVE_KEYS = 50
# last_used_at is written at most this often per key (not on every request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


class InvalidKey(AuthenticationFailed):
    code = "invalid_api_key"


class KeyRevoked(AuthenticationFailed):
    code = "api_key_revoked"


class KeyExpired(AuthenticationFailed):
    code = "api_key_expired"


class OwnerDisabled(AuthenticationFailed):
    code = "account_disabled"


class AdminScopeRefused(ValidationError):
    code = "admin_scope_forbidden"
    http_status = 403


@dataclass
class NewKey:
    doc: dict    # the stored document (no secret in it)
    secret: str  # the full key: returned once, never stored


@dataclass
class Authenticated:
    key: dict
    user: dict

    def has_scope(self, scope: str) -> bool:
        if scope == ADMIN and self.user.get("role") != user_repo.ADMIN:
            return False  # the owner is no longer an administrator
        return scope in (self.key.get("scopes") or [])


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def generate_secret() -> str:
    random_part = base64.urlsafe_b64encode(secrets.token_bytes(KEY_RANDOM_BYTES)).rstrip(b"=").decode("ascii")
    return KEY_PREFIX + random_part


def looks_like_key(secret: str | None) -> bool:
    return bool(secret) and secret.startswith(KEY_PREFIX) and len(secret) == len(KEY_PREFIX) + _ENCODED_LENGTH


# -- Validation ----------------------------------------------------------------------

def clean_name(name: str | None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the key a name, e.g. the script or app that uses it.", field="name")
    if len(name) > MAX_KEY_NAME_LENGTH:
        raise ValidationError(f"The key name must be at most {MAX_KEY_NAME_LENGTH} characters.", field="name")
    return name


def clean_scopes(scopes) -> list[str]:
    if isinstance(scopes, str):
        scopes = [scopes]
    chosen = set(scopes or [])
    unknown = chosen - set(SCOPES)
    if unknown:
        raise ValidationError(f"Unknown scope: {', '.join(sorted(unknown))} (use read, write and/or admin).",
                              field="scopes")
    if not chosen:
        raise ValidationError("Choose at least one scope: read and/or write.", field="scopes")
    return [scope for scope in SCOPES if scope in chosen]


def clean_expiry_days(days) -> int | None:
    if days in (None, ""):
        return None
    try:
        days = int(days)
    except (TypeError, ValueError):
        raise ValidationError("The expiry must be a whole number of days.", field="expires_in_days") from None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise ValidationError(f"The expiry must be between 1 and {MAX_EXPIRY_DAYS} days.",
                              field="expires_in_days")
    return days


# -- Keys of a user --------------------------------------------------------------------

def is_active(key: dict, now: datetime | None = None) -> bool:
    now = now or utcnow()
    expires_at = key.get("expires_at")
    return key.get("revoked_at") is None and (expires_at is None or expires_at > now)


def key_state(key: dict, now: datetime | None = None) -> str:
    """"active", "revoked" or "expired"."""
    if key.get("revoked_at") is not None:
        return "revoked"
    return "active" if is_active(key, now) else "expired"


def create_key(db: Database, owner_id: ObjectId, name: str | None, scopes, expires_in_days=None) -> NewKey:
    """Create a key; the returned secret is the only time the full key exists in clear."""
    name = clean_name(name)
    scopes = clean_scopes(scopes)
    days = clean_expiry_days(expires_in_days)
    if ADMIN in scopes and (user_repo.find(db, owner_id, {"role": 1}) or {}).get("role") != user_repo.ADMIN:
        raise AdminScopeRefused("Only administrators can create keys with the admin scope.", field="scopes")
    now = utcnow()
    if key_repo.count_active(db, owner_id, now) >= MAX_ACTIVE_KEYS:
        raise ValidationError(f"You can have at most {MAX_ACTIVE_KEYS} active keys; revoke one first.",
                              code="too_many_keys", field="name")
    secret = generate_secret()
    doc = {
        "owner_id": owner_id,
        "name": name,
        "prefix": secret[:DISPLAY_PREFIX_LENGTH],
        "key_hash": hash_key(secret),
        "scopes": scopes,
        "created_at": now,
        "last_used_at": None,
        "expires_at": now + timedelta(days=days) if days else None,
        "revoked_at": None,
    }
    return NewKey(doc=key_repo.insert(db, doc), secret=secret)


def list_keys(db: Database, owner_id: ObjectId) -> list[dict]:
    """The user's keys, newest first (revoked and expired ones too, marked by key_state)."""
    return key_repo.list_of_owner(db, owner_id)


def get_key(db: Database, owner_id: ObjectId, key_id) -> dict:
    key = key_repo.find_owned(db, owner_id, as_object_id(key_id, "API key"))
    if key is None:
        raise NotFound("No such API key.")
    return key


def revoke_key(db: Database, owner_id: ObjectId, key_id) -> dict:
    """Revoke the key at once (idempotent); another user's key is NotFound."""
    key_id = as_object_id(key_id, "API key")
    key_repo.revoke(db, owner_id, key_id, utcnow())
    return get_key(db, owner_id, key_id)


def revoke_all_keys(db: Database, owner_id: ObjectId) -> int:
    """Revoke every active key of the user (a password change); returns how many."""
    return key_repo.revoke_all(db, owner_id, utcnow())


# -- Authentication ----------------------------------------------------------------------

def authenticate(db: Database, secret: str | None) -> Authenticated:
    """The key and its user for a presented secret, else AuthenticationFailed
    (InvalidKey, KeyRevoked or KeyExpired). Records when the key was last used."""
    if not looks_like_key(secret):
        raise InvalidKey("The API key is not valid.")
    key = key_repo.find_by_hash(db, hash_key(secret))
    if key is None:
        raise InvalidKey("The API key is not valid.")
    now = utcnow()
    if key.get("revoked_at") is not None:
        raise KeyRevoked("This API key has been revoked.")
    if key.get("expires_at") is not None and key["expires_at"] <= now:
        raise KeyExpired("This API key has expired.")
    user = user_repo.find(db, key["owner_id"])
    if user is None or user.get("deleting_at") is not None:  # the account is (being) deleted
        raise InvalidKey("The API key is not valid.")
    if user.get("disabled_at") is not None:
        raise OwnerDisabled("The account of this API key has been disabled.")
    last_used = key.get("last_used_at")
    if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
        key_repo.touch(db, key["_id"], now)
        key["last_used_at"] = now
    return Authenticated(key=key, user=user)


def key_view(key: dict, now: datetime | None = None) -> dict:
    """JSON-ready view of a key: never the hash, never the secret."""
    def iso(value):
        return value.isoformat() if value else None

    return {
        "id": str(key["_id"]),
        "name": key["name"],
        "prefix": key["prefix"],
        "scopes": list(key.get("scopes") or []),
        "created_at": iso(key.get("created_at")),
        "last_used_at": iso(key.get("last_used_at")),
        "expires_at": iso(key.get("expires_at")),
        "revoked_at": iso(key.get("revoked_at")),
        "state": key_state(key, now),
    }
