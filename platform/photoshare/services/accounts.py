"""Accounts: sign-up, authentication, password change, account deletion."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
import bcrypt
from bson import ObjectId
from pymongo.database import Database

from ..repositories import albums as album_repo
from ..repositories import api_keys as api_key_repo
from ..repositories import photo_files
from ..repositories import photos as photo_repo
from ..repositories import share_links as share_link_repo
from ..repositories import exports as export_repo
from ..repositories import password_resets as reset_repo
from ..repositories import site_settings
from ..repositories import users as user_repo
from . import api_keys, sessions
from .errors import AuthenticationFailed, Conflict, NotFound, ValidationError

# OWASP ASVS 2.1.1 (level 1): at least 12 characters. Checked when a password is set;
# accounts made under the old minimum (8) keep logging in with theirs.
MIN_PASSWORD_LENGTH = 12
# Far above any real passphrase; keeps hashing cost bounded for hostile input.
MAX_PASSWORD_LENGTH = 1024
MAX_NAME_LENGTH = 100
MAX_EMAIL_LENGTH = 254

# Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not
# checked here (that would need a confirmation e-mail).
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_dummy_hashes: dict[int, bytes] = {}


def normalize_email(raw: str | None) -> str:
    """Trim and lower-case: `Ada@Example.COM ` and `ada@example.com` are one account."""
    return (raw or "").strip().lower()


def validate_email(raw: str | None) -> str:
    email = normalize_email(raw)
    if not email:
        raise ValidationError("Enter your e-mail address.", field="email")
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL_RE.match(email):
        raise ValidationError("Enter a valid e-mail address, like name@example.com.", field="email")
    return email


def validate_password(password: str | None, field: str = "password") -> str:
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.", field=field
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(
            f"The password must be at most {MAX_PASSWORD_LENGTH} characters long.", field=field
        )
    return password


def _bcrypt_input(password: str) -> bytes:
    # bcrypt reads at most 72 bytes (and bcrypt 5 refuses longer input). Pre-hashing
    # with SHA-256 (base64, so no NUL bytes) lets every character of a long
    # passphrase count.
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(_bcrypt_input(password), bcrypt.gensalt(rounds)).decode("ascii")


def check_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(_bcrypt_input(password or ""), password_hash.encode("ascii"))
    except ValueError:  # malformed stored hash
        return False


def _spend_hash_time(password: str, rounds: int) -> None:
    # Unknown e-mail: still run bcrypt once, so response time does not reveal which
    # addresses have accounts.
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = hash_password("not the password", rounds).encode("ascii")
    bcrypt.checkpw(_bcrypt_input(password or ""), _dummy_hashes[rounds])


def register(db: Database, email: str, password: str, name: str | None = None, *, rounds: int = 12,
             handle: str | None = None) -> dict:
    """Create an account; return the user document. Raises ValidationError / Conflict."""
    email = validate_email(email)
    validate_password(password)
    name = (name or "").strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"The name must be at most {MAX_NAME_LENGTH} characters.", field="name")
    handle = clean_handle(handle) if handle and handle.strip() else None
    try:
        user = user_repo.insert(db, email, name or None, hash_password(password, rounds), handle)
    except user_repo.EmailTaken:
        raise Conflict("An account with this e-mail address already exists.", field="email") from None
    except user_repo.HandleTaken:
        raise _handle_taken(handle) from None
    # The first account of a fresh install administers it. The claim is the insert of a
    # fixed _id (repositories.site_settings), which exactly one sign-up can win, however
    # many run at once; a count of users could not tell two simultaneous first sign-ups apart.
    if site_settings.claim_first_admin(db, user["_id"]):
        user = {**user, **user_repo.set_role(db, user["_id"], user_repo.ADMIN)}
    return user


def is_disabled(user: dict | None) -> bool:
    return bool(user and user.get("disabled_at"))


class AccountDisabled(AuthenticationFailed):
    code = "account_disabled"

    def __init__(self, message: str = "This account has been disabled. Contact the administrator."):
        super().__init__(message)


# -- Public handle (/u/<handle>): the only name of an account that other people see besides
# its display name; the e-mail address is never shown to anyone else.

HANDLE_RULE = "3 to 30 letters, digits or underscores, starting with a letter"
_HANDLE_RE = re.compile(r"^[a-z][a-z0-9_]{2,29}$")
# Words that read like the site's own pages or staff.
RESERVED_HANDLES = frozenset("""about account admin administrator api explore help login logout me moderator
photoshare root settings signup staff static support system""".split())


def clean_handle(raw: str | None) -> str:
    handle = (raw or "").strip().lstrip("@").lower()
    if not _HANDLE_RE.match(handle):
        raise ValidationError(f"A handle is {HANDLE_RULE}.", field="handle")
    if handle in RESERVED_HANDLES:
        raise ValidationError(f"The handle “{handle}” is reserved; choose another.", field="handle")
    return handle


def _handle_taken(handle: str) -> Conflict:
    return Conflict(f"The handle “{handle}” is taken; choose another.", field="handle")


def set_handle(db: Database, user_id: ObjectId, raw: str | None) -> str:
    """Choose or change the account's public handle (unique, case-insensitive)."""
    handle = clean_handle(raw)
    try:
        user_repo.set_handle(db, user_id, handle)
    except user_repo.HandleTaken:
        raise _handle_taken(handle) from None
    return handle


class AccountClosed(AuthenticationFailed):
    """The account is deleted or being deleted: nothing may be added to it any more."""
    code = "account_closed"

    def __init__(self, message: str = "This account has been deleted."):
        super().__init__(message)


def is_active(user: dict | None) -> bool:
    """Whether the account exists and is not being deleted."""
    return user is not None and user.get("deleting_at") is None


def require_active(db: Database, user_id: ObjectId) -> None:
    """Raise AccountClosed unless the account exists and is not being deleted
    (checked by uploads before and after they store anything)."""
    if not is_active(user_repo.find(db, user_id, {"deleting_at": 1})):
        raise AccountClosed()


def authenticate(db: Database, email: str, password: str, *, rounds: int = 12) -> dict:
    """Return the user whose e-mail and password match, else raise AuthenticationFailed.
    An account being deleted no longer exists for log-in."""
    user = user_repo.find_by_email(db, normalize_email(email))
    if not is_active(user):
        _spend_hash_time(password, rounds)
    elif check_password(password, user["password_hash"]):
        # Said only to whoever knows the password: it does not reveal the account to others.
        if is_disabled(user):
            raise AccountDisabled()
        user_repo.record_login(db, user["_id"])
        return user
    raise AuthenticationFailed("Wrong e-mail address or password.")


def get_user(db: Database, user_id: ObjectId) -> dict | None:
    """The account's document (for the login session), or None."""
    return user_repo.find(db, user_id)


def _require_user(db: Database, user_id: ObjectId) -> dict:
    user = user_repo.find(db, user_id)
    if not is_active(user):
        raise NotFound("No such account.")
    return user


def change_password(
    db: Database, user_id: ObjectId, current_password: str, new_password: str, *, rounds: int = 12
) -> dict:
    """Change the password (the current one is required); return the updated user.

    The session version is bumped, which signs out the account's other sessions, and
    every API key of the account is revoked: whoever knew the old password may have
    created keys with it.
    """
    user = _require_user(db, user_id)
    if not check_password(current_password, user["password_hash"]):
        raise ValidationError("The current password is wrong.", field="current_password")
    validate_password(new_password, field="new_password")
    updated = user_repo.set_password(db, user_id, hash_password(new_password, rounds))
    sessions.end_all_of_user(db, user_id)  # the caller opens a new one for whoever changed it
    api_keys.revoke_all_keys(db, user_id)
    return updated


@dataclass
class AccountDeletion:
    photos: int
    albums: int
    files: int


def delete_account(db: Database, user_id: ObjectId, password: str) -> AccountDeletion:
    """Delete the account, its photos, albums, API keys and stored files (password required).

    Uploads may be in flight while this runs. First the account is closed: its sessions
    end (session version bumped), its API keys are deleted and it is marked deleting, so
    no new upload is accepted and an upload that was already storing notices it and
    removes what it stored (photos.add_photo checks before and after). Then its content
    goes, by owner, and the user document last. An interruption leaves a closed account
    that the reconciliation (services.reconciliation) finishes deleting; any stray file is
    caught by its orphan sweep.
    """
    user = _require_user(db, user_id)
    if not check_password(password, user["password_hash"]):
        raise ValidationError("The password is wrong.", field="password")
    close_account(db, user_id)
    return purge_account(db, user_id)


def close_account(db: Database, user_id: ObjectId) -> None:
    """End every session and API key of the account and mark it deleting."""
    user_repo.mark_deleting(db, user_id)
    sessions.end_all_of_user(db, user_id)
    api_key_repo.delete_all(db, user_id)


def purge_account(db: Database, user_id: ObjectId) -> AccountDeletion:
    """Delete a closed account's photos, files, albums and keys, then the account."""
    # Photo documents first (they vanish from every listing at once), then their files.
    # (Files of an upload that stored files but not its photo go with the orphan sweep.)
    refs = [ref for files in photo_repo.files_of_owner(db, user_id) for ref in files.values()]
    photos = photo_repo.delete_all_of_owner(db, user_id)
    for ref in refs:
        photo_files.delete(db, ref)  # idempotent: a concurrent deletion is fine
    albums = album_repo.delete_all_of_owner(db, user_id)
    share_link_repo.delete_all_of_owner(db, user_id)
    api_key_repo.delete_all(db, user_id)
    reset_repo.delete_all_of_user(db, user_id)
    export_repo.delete_all_of_owner(db, user_id)  # archives on disk expire with EXPORT_TTL_HOURS
    user_repo.delete(db, user_id)
    return AccountDeletion(photos=photos, albums=albums, files=len(refs))
