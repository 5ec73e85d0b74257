"""Password reset: "forgot password" links sent by e-mail, and links an administrator
issues for a user.

A link carries a 256-bit random token (services.tokens); the store keeps only its hash,
with an expiry (PASSWORD_RESET_TTL_MINUTES) and a used mark. Using it is one conditional
update (unused and unexpired → used), so it works once. A reset sets the password, ends
every session of the account (the session version is bumped), revokes its API keys
(whoever took over the account may have made some) and voids its other reset links.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bson import ObjectId
from pymongo.database import Database

from .. import mail
from ..clock import utcnow
from ..repositories import password_resets as reset_repo
from ..repositories import users as user_repo
from . import accounts, api_keys
from .errors import NotFound, ServiceError, as_object_id
from .tokens import hash_token, looks_like_token, new_token

log = logging.getLogger(__name__)


class InvalidResetLink(ServiceError):
    code = "invalid_reset_link"
    http_status = 400

    def __init__(self):
        super().__init__("This password-reset link is not valid: it has expired or has already been used. "
                         "Ask for a new one.")


def issue_link(db: Database, settings, user_id: ObjectId, *, issued_by: ObjectId | None = None) -> tuple[dict, str]:
    """A new reset token for the account; returns (document, token)."""
    token, now = new_token(), utcnow()
    doc = reset_repo.insert(db, {
        "token_hash": hash_token(token), "user_id": user_id, "created_at": now,
        "expires_at": now + timedelta(minutes=settings["PASSWORD_RESET_TTL_MINUTES"]),
        "used_at": None, "issued_by": issued_by,
    })
    return doc, token


def request_reset(db: Database, settings, email: str | None, link_for) -> bool:
    """"Forgot password": e-mail a reset link if the address has an active account.
    `link_for(token)` builds the link. The answer to the person asking is the same either
    way (returns whether a message went out, for logs and tests only)."""
    user = user_repo.find_by_email(db, accounts.normalize_email(email))
    if not accounts.is_active(user) or accounts.is_disabled(user):
        return False
    _, token = issue_link(db, settings, user["_id"])
    try:
        _send_reset_mail(settings, user["email"], link_for(token))
    except Exception as error:  # SMTP down or refusing: logged; the answer stays the same
        log.error("reset mail to user %s not sent: %r", user["_id"], error)
        return False
    return True


def _send_reset_mail(settings, to: str, link: str) -> None:
    minutes = settings["PASSWORD_RESET_TTL_MINUTES"]
    mail.send(settings, to, "Reset your Photoshare password",
              "Someone (hopefully you) asked to reset the password of your Photoshare account.\n\n"
              f"Choose a new password here (the link works once, for {minutes} minutes):\n\n"
              f"{link}\n\n"
              "If you did not ask, ignore this message: your password stays as it is.\n")


def check_link(db: Database, token: str | None) -> dict:
    """The reset behind a link if it is usable now (for the reset page)."""
    reset = reset_repo.find_usable(db, hash_token(token), utcnow()) if looks_like_token(token) else None
    if reset is None:
        raise InvalidResetLink()
    return reset


def reset_password(db: Database, settings, token: str | None, new_password: str | None) -> dict:
    """Set a new password with a reset link (once); returns the updated user."""
    accounts.validate_password(new_password, field="new_password")
    check_link(db, token)  # a bad link is said before the password is hashed
    password_hash = accounts.hash_password(new_password, settings["BCRYPT_ROUNDS"])
    reset = reset_repo.consume(db, hash_token(token), utcnow())
    if reset is None:
        raise InvalidResetLink()
    user = user_repo.find(db, reset["user_id"])
    if not accounts.is_active(user):
        raise InvalidResetLink()
    updated = user_repo.set_password(db, reset["user_id"], password_hash)  # bumps the session version
    api_keys.revoke_all_keys(db, reset["user_id"])
    reset_repo.expire_all_of_user(db, reset["user_id"], utcnow())
    log.info("password of user %s reset%s", reset["user_id"],
             " (link issued by an administrator)" if reset.get("issued_by") else "")
    return updated


def admin_issue_link(db: Database, settings, admin_id: ObjectId, user_id) -> tuple[dict, str]:
    """An administrator's reset link for a user (to hand over by other means)."""
    user = user_repo.find(db, as_object_id(user_id, "account"))
    if not accounts.is_active(user):
        raise NotFound("No such account.")
    return issue_link(db, settings, user["_id"], issued_by=admin_id)
