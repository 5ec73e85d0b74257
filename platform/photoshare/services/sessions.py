"""Server-side login sessions: a log-in is a document in `sessions`, so that log-out,
a password change, a disabled or closed account end it at once, whatever copy of the
cookie someone kept.

The browser's signed cookie carries the user id and a random session token (256 bits,
services.tokens); the store holds only the token's SHA-256. A session ends:

- at log-out (its document is deleted: the cookie, replayed, is just anonymous);
- when the account's session_version moves on (password change or reset, disabled or
  closed account: repositories.users bumps it) or its sessions are deleted;
- after SESSION_IDLE_MINUTES without a request, or SESSION_LIFETIME_HOURS after log-in
  however active it is (then the person logs in again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.database import Database

from ..clock import utcnow
from ..repositories import sessions as session_repo
from . import tokens

# Refresh last_seen_at at most this often: a write per page view would double the
# store's work for no gain in precision that matters to an idle timeout of minutes.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    lifetime: timedelta

    @classmethod
    def from_config(cls, config) -> "SessionPolicy":
        return cls(idle=timedelta(minutes=config["SESSION_IDLE_MINUTES"]),
                   lifetime=timedelta(hours=config["SESSION_LIFETIME_HOURS"]))

    def expired(self, session: dict, now: datetime) -> bool:
        return session["last_seen_at"] + self.idle <= now or session["created_at"] + self.lifetime <= now


def start(db: Database, user: dict, policy: SessionPolicy, now: datetime | None = None) -> str:
    """Open a session for `user` (just authenticated); return its token for the cookie."""
    now = now or utcnow()
    session_repo.delete_expired_of_user(db, user["_id"], idle_before=now - policy.idle,
                                        created_before=now - policy.lifetime)
    token = tokens.new_token()
    session_repo.insert(db, {"_id": tokens.hash_token(token), "user_id": user["_id"],
                             "session_version": user.get("session_version", 1),
                             "created_at": now, "last_seen_at": now})
    return token


def resume(db: Database, token: str | None, user_id: ObjectId, policy: SessionPolicy,
           now: datetime | None = None) -> dict | None:
    """The live session of `user_id` with this token, or None (unknown, ended, another
    account's, timed out: a timed-out one is deleted)."""
    if not tokens.looks_like_token(token):
        return None
    now = now or utcnow()
    session_hash = tokens.hash_token(token)
    session = session_repo.find(db, session_hash)
    if session is None or session["user_id"] != user_id:
        return None
    if policy.expired(session, now):
        session_repo.delete(db, session_hash)
        return None
    if session["last_seen_at"] + TOUCH_EVERY <= now:
        session_repo.touch(db, session_hash, now)
    return session


def is_current(session: dict, user: dict) -> bool:
    """Whether the account has not ended its sessions since this one began."""
    return session.get("session_version") == user.get("session_version", 1)


def end(db: Database, token: str | None) -> None:
    if token:
        session_repo.delete(db, tokens.hash_token(token))


def end_all_of_user(db: Database, user_id: ObjectId, *, keep_token: str | None = None) -> int:
    keep = tokens.hash_token(keep_token) if keep_token else None
    return session_repo.delete_all_of_user(db, user_id, keep=keep)
