"""Administration of accounts: roles, the user list, disabling, deleting, quotas.

Every function here is for an administrator (the views and the API check the role
first); rules that protect the site from its administrator's slips are here: one cannot
disable, demote or delete oneself (a site must keep an administrator who can log in).
"""

from __future__ import annotations

from bson import ObjectId
from pymongo.database import Database

from ..repositories import photos as photo_repo
from ..repositories import users as user_repo
from . import accounts
from .errors import Conflict, NotFound, ValidationError, as_object_id
from .pagination import clamp_page
from .quota import effective_quota

ADMIN, USER = "admin", "user"
ROLES = (ADMIN, USER)
MAX_QUOTA_BYTES = 1 << 50  # 1 PiB: beyond any disk, keeps the number sane
USERS_PER_PAGE = 50
_UNSET = object()


def role_of(user: dict | None) -> str:
    return ADMIN if user and user.get("role") == user_repo.ADMIN else USER


def is_admin(user: dict | None) -> bool:
    return role_of(user) == ADMIN and accounts.is_active(user) and not accounts.is_disabled(user)


def state_of(user: dict) -> str:
    if user.get("deleting_at"):
        return "deleting"
    return "disabled" if user.get("disabled_at") else "active"


def user_view(db: Database, user: dict, settings) -> dict:
    """What the administrator sees of an account (never its password hash)."""
    def iso(value):
        return value.isoformat() if value else None

    return {
        "id": str(user["_id"]),
        "email": user["email"],
        "name": user.get("name"),
        "handle": user.get("handle"),
        "role": role_of(user),
        "state": state_of(user),
        # The counter kept with the storage counter (services.quota); stores from before it
        # count until `recount-storage` has run.
        "photos": max(0, int(user["photo_count"])) if user.get("photo_count") is not None
        else photo_repo.count(db, {"owner_id": user["_id"]}),
        "storage_used_bytes": max(0, int(user.get("storage_used") or 0)),
        "quota_bytes": effective_quota(user, settings),
        "custom_quota": user.get("quota_bytes") is not None,
        "created_at": iso(user.get("created_at")),
        "last_login_at": iso(user.get("last_login_at")),
    }


def list_users(db: Database, settings, page: int = 1, per_page: int = USERS_PER_PAGE) -> tuple[list[dict], int]:
    """(a page of account views, oldest first; total number of accounts)."""
    page = clamp_page(page)
    users = user_repo.page(db, skip=(page - 1) * per_page, limit=per_page)
    return [user_view(db, user, settings) for user in users], user_repo.count(db)


def account_count(db: Database) -> int:
    return user_repo.count(db)


def get_user(db: Database, user_id) -> dict:
    user = user_repo.find(db, as_object_id(user_id, "account"), user_repo.LIST_FIELDS)
    if user is None:
        raise NotFound("No such account.")
    return user


def clean_quota(value) -> int | None:
    """Bytes (None: back to the configured default)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError("The quota must be a number of bytes.", field="quota_bytes")
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise ValidationError("The quota must be a number of bytes.", field="quota_bytes") from None
    if not 0 <= value <= MAX_QUOTA_BYTES:
        raise ValidationError("The quota must be between 0 and 1 PiB.", field="quota_bytes")
    return value


def update_user(db: Database, admin_id: ObjectId, user_id, *, quota_bytes=_UNSET, disabled=_UNSET,
                role=_UNSET) -> dict:
    """Change an account's quota, state and/or role; every value is checked first."""
    user = get_user(db, user_id)
    if user.get("deleting_at"):
        raise NotFound("No such account.")
    if quota_bytes is not _UNSET:
        quota_bytes = clean_quota(quota_bytes)
    if disabled is not _UNSET and not isinstance(disabled, bool):
        raise ValidationError("disabled must be true or false.", field="disabled")
    if role is not _UNSET and role not in ROLES:
        raise ValidationError("The role must be admin or user.", field="role")
    if user["_id"] == admin_id and (disabled is True or role == USER):
        raise Conflict("You cannot disable or demote your own account.", code="own_account")
    if quota_bytes is not _UNSET:
        user_repo.set_quota(db, user["_id"], quota_bytes)
    if role is not _UNSET:
        user_repo.set_role(db, user["_id"], user_repo.ADMIN if role == ADMIN else None)
    if disabled is not _UNSET and disabled != bool(user.get("disabled_at")):
        # Disabling ends every session (session version bumped); API keys stop working
        # at once because services.api_keys refuses a disabled owner (they work again
        # if the account is enabled again).
        user_repo.set_disabled(db, user["_id"], disabled)
    return get_user(db, user["_id"])


def delete_user(db: Database, admin_id: ObjectId, user_id) -> accounts.AccountDeletion:
    user = get_user(db, user_id)
    if user["_id"] == admin_id:
        raise Conflict("You cannot delete your own account here; use your account page.", code="own_account")
    accounts.close_account(db, user["_id"])
    return accounts.purge_account(db, user["_id"])


def make_admin(db: Database, email: str, password: str | None = None, *, rounds: int = 12) -> tuple[dict, bool]:
    """`flask create-admin EMAIL`: promote the account, or create it (with `password`)
    as an administrator. Returns (user, created)."""
    email = accounts.validate_email(email)
    user = user_repo.find_by_email(db, email)
    created = False
    if user is None:
        if not password:
            raise ValidationError("No account has this e-mail address; give a password to create it.",
                                  field="password")
        user = accounts.register(db, email, password, rounds=rounds)
        created = True
    if user.get("deleting_at"):
        raise Conflict("This account is being deleted.")
    user_repo.set_role(db, user["_id"], user_repo.ADMIN)
    if user.get("disabled_at"):
        user_repo.set_disabled(db, user["_id"], False)
    return user_repo.find(db, user["_id"], user_repo.LIST_FIELDS), created

