"""Who may sign up: the signup policy (open, invite, closed) and invitations.

The policy is the administrator's choice (stored in repositories.site_settings), else
SIGNUP_POLICY from the configuration. Whatever it is, a fresh install accepts one
sign-up: the first account, which becomes the administrator (services.accounts).

An invitation is a single-use link with an expiry, created by an administrator. Using
it is one conditional update (unused and unexpired → used), so two sign-ups with one
link cannot both pass; if the sign-up then fails (e-mail taken, weak password) the
invitation is given back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.database import Database

from ..clock import utcnow
from ..repositories import invites as invite_repo
from ..repositories import site_settings
from . import accounts
from .errors import NotFound, ServiceError, ValidationError, as_object_id
from .tokens import hash_token, looks_like_token, new_token

OPEN, INVITE, CLOSED = "open", "invite", "closed"
POLICIES = (OPEN, INVITE, CLOSED)
MAX_INVITE_HOURS = 24 * 90
MAX_NOTE_LENGTH = 200


class SignupRefused(ServiceError):
    code = "signup_closed"
    http_status = 403


class InvalidInvite(ServiceError):
    code = "invalid_invite"
    http_status = 403


def policy(db: Database, settings) -> str:
    stored = site_settings.get(db, site_settings.SIGNUP_POLICY)
    return stored if stored in POLICIES else settings["SIGNUP_POLICY"]


def set_policy(db: Database, value) -> str:
    value = (value or "").strip().lower() if isinstance(value, str) else value
    if value not in POLICIES:
        raise ValidationError("The signup policy must be open, invite or closed.", field="signup_policy")
    site_settings.put(db, site_settings.SIGNUP_POLICY, value)
    return value


def signup_allowed_without_invite(db: Database, settings) -> bool:
    return policy(db, settings) == OPEN or not site_settings.first_admin_claimed(db)


def sign_up(db: Database, settings, email, password, name=None, *, invite_token: str | None = None,
            handle: str | None = None) -> dict:
    """The website's sign-up under the policy; returns the new user. An invitation is
    used only when the policy is not open (an open site needs none)."""
    if signup_allowed_without_invite(db, settings):
        return accounts.register(db, email, password, name, rounds=settings["BCRYPT_ROUNDS"], handle=handle)
    if policy(db, settings) == CLOSED:
        raise SignupRefused("Sign-up is closed on this site. Ask the administrator for an account.")
    if not invite_token:
        raise SignupRefused("Sign-up is by invitation only on this site. Ask the administrator for an "
                            "invitation link.", code="invite_required")
    invite = _claim(db, invite_token)
    try:
        user = accounts.register(db, email, password, name, rounds=settings["BCRYPT_ROUNDS"], handle=handle)
    except BaseException:
        invite_repo.release(db, invite["_id"])
        raise
    invite_repo.set_used_by(db, invite["_id"], user["_id"])
    return user


def _claim(db: Database, token: str) -> dict:
    invite = invite_repo.claim(db, hash_token(token), utcnow()) if looks_like_token(token) else None
    if invite is None:
        raise InvalidInvite("This invitation link is not valid: it has expired or has already been used. "
                            "Ask the administrator for a new one.")
    return invite


def check_invite(db: Database, token: str | None) -> dict:
    """The invitation behind a link if it is usable now (shown on the sign-up page)."""
    invite = invite_repo.find_by_hash(db, hash_token(token)) if looks_like_token(token) else None
    if invite is None or invite.get("used_at") is not None or invite["expires_at"] <= utcnow():
        raise InvalidInvite("This invitation link is not valid: it has expired or has already been used. "
                            "Ask the administrator for a new one.")
    return invite


def clean_hours(hours, default: int) -> int:
    if hours in (None, ""):
        return default
    try:
        hours = int(hours)
    except (TypeError, ValueError):
        raise ValidationError("The validity must be a whole number of hours.", field="expires_in_hours") from None
    if not 1 <= hours <= MAX_INVITE_HOURS:
        raise ValidationError(f"The validity must be between 1 and {MAX_INVITE_HOURS} hours.",
                              field="expires_in_hours")
    return hours


def create_invite(db: Database, settings, admin_id: ObjectId, *, expires_in_hours=None,
                  note: str | None = None) -> tuple[dict, str]:
    """A new invitation; returns (document, token). The token (for the link) exists
    only in this return value: the store keeps its hash."""
    hours = clean_hours(expires_in_hours, settings["INVITE_TTL_HOURS"])
    note = " ".join((note or "").split())[:MAX_NOTE_LENGTH] or None
    token, now = new_token(), utcnow()
    doc = invite_repo.insert(db, {"token_hash": hash_token(token), "created_by": admin_id, "created_at": now,
                                  "expires_at": now + timedelta(hours=hours), "used_at": None,
                                  "used_by": None, "note": note})
    return doc, token


def list_invites(db: Database, limit: int = 50) -> list[dict]:
    return invite_repo.newest(db, limit)


def invite_state(invite: dict, now: datetime | None = None) -> str:
    if invite.get("used_by") is not None or invite.get("used_at") is not None:
        return "used"
    return "active" if invite["expires_at"] > (now or utcnow()) else "expired"


def revoke_invite(db: Database, invite_id) -> None:
    if not invite_repo.revoke(db, as_object_id(invite_id, "invitation"), utcnow()):
        raise NotFound("No such unused invitation.")
