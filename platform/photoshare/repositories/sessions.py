"""The login-session repository: the one module that reads and writes `sessions`.

Documents: _id (SHA-256 hex of the session token: the token itself lives only in the
browser's signed cookie, so a copy of the database cannot be replayed as a cookie),
user_id, session_version (the account's at log-in: a later bump ends the session),
created_at, last_seen_at. Look-ups are by _id; deletions of an account's sessions use
the single-field `user_id` index (both served by the embedded store's indexes).
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.database import Database


def ensure_indexes(db: Database) -> None:
    db.sessions.create_index([("user_id", ASCENDING)], name="user")


def insert(db: Database, session: dict) -> None:
    db.sessions.insert_one(session)


def find(db: Database, session_hash: str) -> dict | None:
    return db.sessions.find_one({"_id": session_hash})


def touch(db: Database, session_hash: str, now: datetime) -> None:
    db.sessions.update_one({"_id": session_hash}, {"$set": {"last_seen_at": now}})


def delete(db: Database, session_hash: str) -> None:
    db.sessions.delete_one({"_id": session_hash})


def delete_all_of_user(db: Database, user_id: ObjectId, *, keep: str | None = None) -> int:
    """End every session of the account (but `keep`, the one asking, if given)."""
    query: dict = {"user_id": user_id}
    if keep is not None:
        query["_id"] = {"$ne": keep}
    return db.sessions.delete_many(query).deleted_count


def delete_expired_of_user(db: Database, user_id: ObjectId, *, idle_before: datetime,
                           created_before: datetime) -> int:
    """Forget the account's sessions that have timed out (done at each log-in, so the
    collection holds no more than the live sessions plus those of absent users)."""
    return db.sessions.delete_many({"user_id": user_id, "$or": [
        {"last_seen_at": {"$lt": idle_before}}, {"created_at": {"$lt": created_before}}]}).deleted_count
